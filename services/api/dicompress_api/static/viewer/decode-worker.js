// A Web Worker that decodes JPEG 2000 codestreams with the vendored OpenJPEG WebAssembly build.
// A classic worker, because the vendored glue is a classic script (it defines OpenJPEGWASM).
// In: {id, codestream (Uint8Array)}; out: {id, width, height, bitsPerSample, signed, buffer}
// (the samples, little endian, 1 or 2 bytes each) or {id, error}.

importScripts("vendor/openjpeg/openjpegwasm_decode.js");

const ready = OpenJPEGWASM({ locateFile: (name) => `vendor/openjpeg/${name}` });
let decoder = null;

self.onmessage = async ({ data }) => {
  const { id, codestream } = data;
  try {
    const openjpeg = await ready;
    decoder ??= new openjpeg.J2KDecoder();
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const samples = decoder.getDecodedBuffer().slice(); // a copy: the view is into wasm memory
    self.postMessage({
      id,
      width: info.width,
      height: info.height,
      bitsPerSample: info.bitsPerSample,
      signed: info.isSigned,
      components: info.componentCount,
      buffer: samples.buffer,
    }, [samples.buffer]);
  } catch (error) {
    self.postMessage({ id, error: String(error?.message ?? error) });
  }
};
