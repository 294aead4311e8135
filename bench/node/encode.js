// Encode DICOM files to lossy JPEG 2000 with dcmjs-codecs, for bench/bench_compare.py.
//   node encode.js RATE OUT_DIR FILE...
// RATE is gdcmconv's (16-bit pixel bytes / codestream bytes): dcmjs-codecs counts it that way.
// Each output keeps its input's file name. One process encodes its files one after another.
'use strict';
const fs = require('fs');
const path = require('path');
const { NativeCodecs, Transcoder, constants } = require('dcmjs-codecs');

async function main() {
  const [rateArg, outDir, ...files] = process.argv.slice(2);
  const rate = Number(rateArg);
  if (!(rate > 0) || !outDir || files.length === 0) {
    console.error('usage: node encode.js RATE OUT_DIR FILE...');
    process.exit(2);
  }
  await NativeCodecs.initializeAsync();
  for (const file of files) {
    const input = fs.readFileSync(file);
    const buffer = input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength);
    const transcoder = new Transcoder(buffer);
    transcoder.transcode(constants.TransferSyntax.Jpeg2000Lossy, { rate });
    fs.writeFileSync(path.join(outDir, path.basename(file)), Buffer.from(transcoder.getDicomPart10()));
  }
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
