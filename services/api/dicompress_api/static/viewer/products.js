// Which of a series' products to show, and which of their many images: pure, no DOM.

const KIND_ORDER = ["preview", "thumbnails", "snapshot"];
const VIEW_ORDER = ["key", "axial", "coronal", "sagittal", "anterior"];

/** The newest product of each kind for one series, in the order preview, thumbnails, 3D. */
export function productsOf(products, seriesUid) {
  const newest = new Map();
  for (const product of products ?? []) {
    if (product.seriesInstanceUid !== seriesUid) continue;
    const held = newest.get(product.kind);
    if (!held || product.requestedAt > held.requestedAt) newest.set(product.kind, product);
  }
  return [...newest.values()].sort((a, b) => rank(KIND_ORDER, a.kind) - rank(KIND_ORDER, b.kind));
}

/** The newest preview of a series that is binned (or, with `full`, unbinned: bin_xy 1), or
 *  null; without a binned one, the newest preview of any kind stands in. */
export function previewOf(products, seriesUid, { full = false } = {}) {
  const previews = (products ?? [])
    .filter((p) => p.seriesInstanceUid === seriesUid && p.kind === "preview")
    .sort((a, b) => (a.requestedAt < b.requestedAt ? 1 : -1));
  const unbinned = (p) => (p.params?.bin_xy ?? 2) === 1 && (p.params?.bin_z ?? 1) === 1;
  const fitting = previews.find((p) => unbinned(p) === full);
  return fitting ?? (full ? null : previews[0] ?? null);
}

/** A few images of a thumbnails or snapshot product: the smallest size, one format (WebP
 *  first), thumbnails in their first window, snapshots in every preset. */
export function pickImages(product) {
  const images = product.images ?? [];
  if (!images.length) return [];
  const size = Math.min(...images.map((i) => i.size));
  const formats = new Set(images.map((i) => i.format));
  const format = formats.has("webp") ? "webp" : [...formats][0];
  let chosen = images.filter((i) => i.size === size && i.format === format);
  if (product.kind === "thumbnails") {
    const firstPreset = chosen[0]?.preset;
    chosen = chosen.filter((i) => i.preset === firstPreset);
  }
  return chosen.sort((a, b) => rank(VIEW_ORDER, a.view) - rank(VIEW_ORDER, b.view));
}

function rank(order, value) {
  const at = order.indexOf(value);
  return at < 0 ? order.length : at;
}
