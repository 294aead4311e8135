// A Mini CT's region as the slice viewer marks it, and the same region in the ORIGINAL series:
// the viewer shows the preview, binned binXY x binXY in-plane and binZ along the slices
// (preview slice i is the mean of original slices i*binZ .. i*binZ+binZ-1; preview pixel (r, c)
// of original rows r*binXY .. and columns c*binXY ..). Pure: no DOM.

/** The preview's bin factors from its product's params (snake or camel case). */
export function binsOf(product) {
  const params = product?.params ?? {};
  const xy = Number(params.bin_xy ?? params.binXy ?? 1);
  const z = Number(params.bin_z ?? params.binZ ?? 1);
  return { xy: xy >= 1 ? xy : 1, z: z >= 1 ? z : 1 };
}

/** The preview pixel (fractional: 0..width, 0..height) under a point of the page, given the
 *  canvas' on-screen rectangle (getBoundingClientRect: it includes zoom and pan). */
export function pixelAt(x, y, rect, width, height) {
  return {
    column: clamp(((x - rect.left) / rect.width) * width, 0, width),
    row: clamp(((y - rect.top) / rect.height) * height, 0, height),
  };
}

/** The box of whole preview pixels spanned by two corners (fractional pixels), at least 1x1. */
export function boxBetween(a, b, width, height) {
  const column = clamp(Math.floor(Math.min(a.column, b.column)), 0, width - 1);
  const row = clamp(Math.floor(Math.min(a.row, b.row)), 0, height - 1);
  const right = clamp(Math.ceil(Math.max(a.column, b.column)), column + 1, width);
  const bottom = clamp(Math.ceil(Math.max(a.row, b.row)), row + 1, height);
  return { row, column, rows: bottom - row, columns: right - column };
}

/** A preview pixel box in the original series' pixels. */
export function boxToOriginal(box, binXY) {
  return {
    row: box.row * binXY, column: box.column * binXY, rows: box.rows * binXY, columns: box.columns * binXY,
  };
}

/** An original pixel box in the preview's (fractional) pixels, to draw it over the preview. */
export function boxToPreview(box, binXY) {
  return {
    row: box.row / binXY, column: box.column / binXY, rows: box.rows / binXY, columns: box.columns / binXY,
  };
}

/** Preview slices first..last (in either order) as original slice indexes, both included. */
export function rangeToOriginal(first, last, binZ) {
  const [low, high] = first <= last ? [first, last] : [last, first];
  return { zStart: low * binZ, zEnd: high * binZ + binZ - 1 };
}

/** The POST /studies/{id}/series/{uid}/mini-ct body. */
export function miniCtBody({ zStart, zEnd, roi, format, quality, downsample }) {
  const body = { zStart, zEnd, zUnit: "index", format, preset: quality, downsample };
  if (roi) body.roi = roi;
  return body;
}

/** A box (original pixels) in millimetres: [width, height], from the series' PixelSpacing
 *  (row spacing, column spacing); null without one. */
export function boxInMm(box, pixelSpacing) {
  if (!box || !pixelSpacing) return null;
  const [rowSpacing, columnSpacing] = pixelSpacing;
  return [box.columns * columnSpacing, box.rows * rowSpacing];
}

/** From the centre of the first original slice to that of the last, in millimetres. */
export function rangeInMm(zStart, zEnd, sliceSpacing) {
  return sliceSpacing ? (zEnd - zStart) * sliceSpacing : null;
}

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}
