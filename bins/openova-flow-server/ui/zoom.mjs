// Pan and zoom of the drawing as a transform { x, y, k }: a point p of the drawing is shown at
// (x + k * p.x, y + k * p.y) in the canvas. Pure functions; flow.mjs applies the result.

/** The smallest and largest scale the controls reach. */
export const MIN_SCALE = 0.05;
export const MAX_SCALE = 4;
/** One step of the zoom buttons and keys. */
export const STEP = 1.25;
const FIT_MARGIN = 12;

const clamp = (k) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, k));

/**
 * The transform that shows a `content` box {x, y, width, height} whole in a `view` {width,
 * height}: never enlarged beyond scale 1, centred on the axis with room to spare.
 */
export function fit(content, view) {
  const k = clamp(
    Math.min(1, (view.width - 2 * FIT_MARGIN) / Math.max(1, content.width), (view.height - 2 * FIT_MARGIN) / Math.max(1, content.height)),
  );
  return {
    x: (view.width - content.width * k) / 2 - content.x * k,
    y: Math.min(FIT_MARGIN, (view.height - content.height * k) / 2) - content.y * k,
    k,
  };
}

/** Whether `content` is larger than `view` at scale 1. */
export function overflows(content, view) {
  return content.width > view.width || content.height > view.height;
}

/** `t` scaled by `factor` (clamped) around the canvas point (px, py), which stays in place. */
export function zoomAt(t, factor, px, py) {
  const k = clamp(t.k * factor);
  const ratio = k / t.k;
  return { x: px - (px - t.x) * ratio, y: py - (py - t.y) * ratio, k };
}

/** `t` moved by (dx, dy) canvas pixels. */
export function pan(t, dx, dy) {
  return { x: t.x + dx, y: t.y + dy, k: t.k };
}

/** A transform at scale `k` that puts the drawing point (cx, cy) in the middle of `view`. */
export function centreOn(cx, cy, view, k) {
  const scale = clamp(k);
  return { x: view.width / 2 - cx * scale, y: view.height / 2 - cy * scale, k: scale };
}
