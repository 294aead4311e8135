// A minimal DICOM Part 10 reader for the slices we make: explicit VR little endian, the few
// attributes a viewer needs, and the pixel data (encapsulated fragments or native bytes).
// Sequences are skipped whole (defined or undefined length, nested). Not a general parser.

const IMPLICIT_LE = "1.2.840.10008.1.2";
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQUENCE_END = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;

// tag -> [name, kind]: what the viewer reads; everything else is stepped over
const WANTED = new Map([
  [0x00020010, ["transferSyntax", "text"]],
  [0x00080018, ["sopInstanceUid", "text"]],
  [0x0020000e, ["seriesInstanceUid", "text"]],
  [0x00200013, ["instanceNumber", "numbers"]],
  [0x00200032, ["position", "numbers"]],
  [0x00200037, ["orientation", "numbers"]],
  [0x00280002, ["samplesPerPixel", "us"]],
  [0x00280004, ["photometric", "text"]],
  [0x00280008, ["frames", "numbers"]],
  [0x00280010, ["rows", "us"]],
  [0x00280011, ["columns", "us"]],
  [0x00280030, ["pixelSpacing", "numbers"]],
  [0x00280100, ["bitsAllocated", "us"]],
  [0x00280101, ["bitsStored", "us"]],
  [0x00280103, ["pixelRepresentation", "us"]],
  [0x00281050, ["windowCenter", "numbers"]],
  [0x00281051, ["windowWidth", "numbers"]],
  [0x00281052, ["rescaleIntercept", "numbers"]],
  [0x00281053, ["rescaleSlope", "numbers"]],
]);

export class DicomError extends Error {}

/** The viewer's attributes of a DICOM file, and its pixel data as `fragments` (encapsulated)
 *  or `native` bytes. Throws DicomError on what it cannot read. */
export function parseDicom(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== "DICM") {
    throw new DicomError("not a DICOM file (no 'DICM' at byte 128)");
  }
  const out = {};
  const reader = { bytes, view, out, offset: 132 };
  readElements(reader, bytes.length, (tag) => tag > 0x0002ffff); // the file meta group
  if (out.transferSyntax === IMPLICIT_LE) {
    throw new DicomError("implicit VR little endian is not read here (only our own outputs are)");
  }
  readElements(reader, bytes.length, () => false);
  return finish(out);
}

function finish(raw) {
  const first = (list, fallback) => (list && list.length ? list[0] : fallback);
  const windows = (raw.windowCenter ?? []).map((center, i) => ({
    center, width: (raw.windowWidth ?? [])[i],
  })).filter((w) => Number.isFinite(w.center) && w.width > 0);
  if (!raw.rows || !raw.columns) throw new DicomError("no Rows or Columns");
  if (!raw.fragments && !raw.native) throw new DicomError("no pixel data");
  return {
    ...raw,
    frames: first(raw.frames, 1),
    instanceNumber: first(raw.instanceNumber, null),
    bitsAllocated: raw.bitsAllocated ?? 16,
    bitsStored: raw.bitsStored ?? raw.bitsAllocated ?? 16,
    signed: raw.pixelRepresentation === 1,
    samplesPerPixel: raw.samplesPerPixel ?? 1,
    photometric: raw.photometric ?? "MONOCHROME2",
    slope: first(raw.rescaleSlope, 1),
    intercept: first(raw.rescaleIntercept, 0),
    windows,
  };
}

/** Read elements from reader.offset up to `end` (or an item delimiter, or a tag `stop` says). */
function readElements(reader, end, stop) {
  const { view } = reader;
  while (reader.offset + 8 <= end) {
    const tag = ((view.getUint16(reader.offset, true) << 16) | view.getUint16(reader.offset + 2, true)) >>> 0;
    if (stop(tag)) return;
    if (tag === ITEM_END) {
      reader.offset += 8;
      return;
    }
    const vr = String.fromCharCode(reader.bytes[reader.offset + 4], reader.bytes[reader.offset + 5]);
    let length;
    if (LONG_VRS.has(vr)) {
      length = view.getUint32(reader.offset + 8, true);
      reader.offset += 12;
    } else {
      length = view.getUint16(reader.offset + 6, true);
      reader.offset += 8;
    }
    if (tag === PIXEL_DATA) {
      readPixelData(reader, length);
      continue;
    }
    if (length === UNDEFINED) {
      skipUndefined(reader);
      continue;
    }
    const wanted = WANTED.get(tag);
    if (wanted) reader.out[wanted[0]] = value(reader, length, wanted[1]);
    reader.offset += length;
  }
}

function value(reader, length, kind) {
  if (kind === "us") return reader.view.getUint16(reader.offset, true);
  const text = new TextDecoder("latin1").decode(reader.bytes.subarray(reader.offset, reader.offset + length))
    .replace(/[\0 ]+$/, "").trim();
  if (kind === "text") return text;
  return text.split("\\").map((part) => Number.parseFloat(part)).filter(Number.isFinite);
}

/** A sequence (or UN) of undefined length: its items, each read and dropped, to its end. */
function skipUndefined(reader) {
  const { view } = reader;
  while (reader.offset + 8 <= reader.bytes.length) {
    const tag = ((view.getUint16(reader.offset, true) << 16) | view.getUint16(reader.offset + 2, true)) >>> 0;
    const length = view.getUint32(reader.offset + 4, true);
    reader.offset += 8;
    if (tag === SEQUENCE_END) return;
    if (tag !== ITEM) throw new DicomError(`unexpected tag ${tag.toString(16)} in a sequence`);
    if (length === UNDEFINED) {
      const saved = reader.out;
      reader.out = {}; // attributes inside items are not the image's own
      readElements(reader, reader.bytes.length, () => false);
      reader.out = saved;
    } else {
      reader.offset += length;
    }
  }
}

function readPixelData(reader, length) {
  const { view, bytes } = reader;
  if (length !== UNDEFINED) {
    reader.out.native = bytes.subarray(reader.offset, reader.offset + length);
    reader.offset += length;
    return;
  }
  const fragments = [];
  let first = true; // the first item is the basic offset table
  while (reader.offset + 8 <= bytes.length) {
    const tag = ((view.getUint16(reader.offset, true) << 16) | view.getUint16(reader.offset + 2, true)) >>> 0;
    const itemLength = view.getUint32(reader.offset + 4, true);
    reader.offset += 8;
    if (tag === SEQUENCE_END) break;
    if (tag !== ITEM) throw new DicomError("malformed encapsulated pixel data");
    if (!first) fragments.push(bytes.subarray(reader.offset, reader.offset + itemLength));
    first = false;
    reader.offset += itemLength;
  }
  reader.out.fragments = fragments;
}

/** One frame's codestream of a single-frame image: its fragments joined. */
export function codestreamOf(image) {
  const parts = image.fragments;
  if (parts.length === 1) return parts[0];
  const joined = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

/** Transfer syntaxes whose pixel data is a JPEG 2000 codestream. */
export const J2K_SYNTAXES = new Set([
  "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
  "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",
]);
