// Orientation markers from ImageOrientationPatient: which patient direction lies at each edge
// of the image (R/L, A/P, H/F in the LPS patient system), up to two letters for an oblique one.

const AXES = [["L", "R"], ["P", "A"], ["H", "F"]]; // +x is left, +y posterior, +z head

/** The letters of a direction cosine vector, strongest axis first (ignoring < 0.25). */
function letters(vector) {
  return vector.map((v, axis) => ({ v, axis }))
    .filter(({ v }) => Math.abs(v) >= 0.25)
    .sort((a, b) => Math.abs(b.v) - Math.abs(a.v))
    .slice(0, 2)
    .map(({ v, axis }) => AXES[axis][v > 0 ? 0 : 1])
    .join("");
}

const opposite = (vector) => vector.map((v) => -v);

/** {top, bottom, left, right} for an orientation of six cosines, or null without one. */
export function markers(orientation) {
  if (orientation?.length !== 6) return null;
  const row = orientation.slice(0, 3); // along a row: towards the right edge
  const column = orientation.slice(3, 6); // down a column: towards the bottom edge
  return {
    right: letters(row), left: letters(opposite(row)),
    bottom: letters(column), top: letters(opposite(column)),
  };
}
