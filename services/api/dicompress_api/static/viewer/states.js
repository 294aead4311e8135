// What a job's or a product's state means, said honestly: a job that finished with slices
// missing is not "completed", a failure says why in words a clinician reads, and the
// technical text is kept for a folded detail. Pure: no DOM.

export const FINISHED = new Set(["completed", "failed", "cancelled"]);

// Stable error codes (the events' error_code) in plain words.
const WORDS = {
  "not-dicom": "a file is not a DICOM image",
  "unsafe-name": "a file's name has characters storage cannot handle",
  "no-pixel-data": "an object holds no image",
  "malformed-dicom": "a file is damaged",
  "unsupported": "an image is in a format we cannot compress",
  "unsupported-input": "an image is in a format we cannot compress",
  "below-quality-floor": "the compressed image would have lost too much detail",
  "codec-error": "the image encoder failed on it",
  "encoder-crashed": "the image encoder stopped unexpectedly",
  "source-empty": "no images were found to work on",
  "source-unreadable": "the stored images could not be read",
  "download-failed": "the stored images could not be read",
  "upload-failed": "the result could not be stored",
  "no-slice-encoded": "no image could be made",
  "non-uniform-spacing": "the slices are not evenly spaced",
  "non-uniform-orientation": "the slices are not all oriented the same way",
  "too-few-slices": "the series has too few slices for a volume",
  "too-few-images": "the series has too few images",
  "no-geometry": "the images carry no position in the patient",
  "mixed-sizes": "the images are not all the same size",
  "duplicate-positions": "two images lie at the same position",
  "target-exists": "a result with that name exists already",
};

/**
 * {state, label, line, detail} for a job or product: `state` one of queued, running,
 * completed, partial, failed, cancelled (each has its colour); `label` a short title;
 * `line` a sentence; `detail` the technical text (code and raw reason) or null.
 */
export function describeState({ status, total, done = 0, failed = 0, errorCode, reason, noun = "slices" }) {
  const detail = errorCode || reason ? [errorCode, reason].filter(Boolean).join(": ") : null;
  const words = WORDS[errorCode] ?? null;
  const of = total ? ` of ${total}` : "";
  switch (status) {
    case "completed": {
      const missing = total ? Math.max(0, total - done - failed) : 0;
      if (failed > 0 || missing > 0) {
        const lost = failed + missing;
        return {
          state: "partial",
          label: `Completed with ${lost} ${noun} missing`,
          line: `${done}${of} ${noun} made; ${lost} could not be made` +
            (words ? ` (${words})` : "") + ".",
          detail,
        };
      }
      return { state: "completed", label: "Completed", line: `${done}${of} ${noun} made.`, detail: null };
    }
    case "failed":
      return {
        state: "failed",
        label: "Failed",
        line: words ? `Failed: ${words}.` : "Failed: it could not be made. Ask support with the detail below.",
        detail,
      };
    case "cancelled":
      return { state: "cancelled", label: "Cancelled", line: `Cancelled after ${done}${of} ${noun}.`, detail };
    case "running":
      return { state: "running", label: `${done}${of} ${noun}`, line: `Working: ${done}${of} ${noun} ready.`, detail: null };
    default:
      return { state: "queued", label: "Waiting", line: "Waiting to start.", detail: null };
  }
}
