// Window/level on the client, on the full bit depth: a stored value becomes a modality value
// (stored * slope + intercept), then a grey level by the DICOM linear window (PS3.3
// C.11.2.1.2.1); MONOCHROME1 is inverted. One lookup table per (window, rescale) covers every
// stored value, so drawing a slice is one table read per pixel.

/** The grey level (0-255) of modality value `x` under window (center, width). */
export function greyOf(x, center, width) {
  if (width <= 1) return x < center - 0.5 ? 0 : 255;
  const low = center - 0.5 - (width - 1) / 2;
  const high = center - 0.5 + (width - 1) / 2;
  if (x <= low) return 0;
  if (x > high) return 255;
  return Math.round(((x - (center - 0.5)) / (width - 1) + 0.5) * 255);
}

/** A table from stored value (offset by `offset`) to grey level. */
export function windowTable({ bitsStored, signed, slope, intercept, invert }, center, width) {
  const bits = Math.min(Math.max(bitsStored, 1), 16);
  const offset = signed ? 2 ** (bits - 1) : 0;
  const size = 2 ** bits;
  const table = new Uint8ClampedArray(size);
  for (let i = 0; i < size; i += 1) {
    const grey = greyOf((i - offset) * slope + intercept, center, width);
    table[i] = invert ? 255 - grey : grey;
  }
  return { table, offset, mask: size - 1 };
}

/** Write the slice's samples through the table into RGBA `pixels` (an ImageData's data). */
export function paint(samples, { table, offset, mask }, pixels) {
  for (let i = 0, p = 0; i < samples.length; i += 1, p += 4) {
    const grey = table[(samples[i] + offset) & mask];
    pixels[p] = grey;
    pixels[p + 1] = grey;
    pixels[p + 2] = grey;
    pixels[p + 3] = 255;
  }
}

/** A window covering a slice's values (its 1st to 99th percentile) when it names none. */
export function automaticWindow(samples, slope, intercept) {
  const step = Math.max(1, Math.floor(samples.length / 4096));
  const values = [];
  for (let i = 0; i < samples.length; i += step) values.push(samples[i] * slope + intercept);
  values.sort((a, b) => a - b);
  const low = values[Math.floor(values.length * 0.01)] ?? 0;
  const high = values[Math.floor(values.length * 0.99)] ?? 1;
  return { center: (low + high) / 2, width: Math.max(2, high - low) };
}
