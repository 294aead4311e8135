// Input on the image: wheel, keys, mouse and touch, turned into a few intentions (step through
// slices, window, pan, zoom). One finger or the left button does what the chosen tool says;
// two fingers pinch to zoom; the right button windows and the middle one pans, whatever the tool.

const PIXELS_PER_SLICE = 12; // a drag this long moves one slice
const WHEEL_PER_SLICE = 50; // wheel delta (pixels) per slice; a line counts as one slice

/** handlers: {step(n), to(edge), windowBy(dx, dy), panBy(dx, dy), zoomBy(f), reset(), tool(),
 *  roi(phase, x, y) (the "roi" tool: a box dragged from a point of the page, phase start, move or
 *  end), mark(edge) (keys [ and ]: the slice shown starts or ends a range)} */
export function bindGestures(stage, handlers) {
  const pointers = new Map();
  let wheel = 0;
  let dragged = 0;
  let pinch = null;

  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    if (event.ctrlKey) {
      handlers.zoomBy(Math.exp(-event.deltaY / 300));
      return;
    }
    if (event.deltaMode !== 0) {
      handlers.step(Math.sign(event.deltaY));
      return;
    }
    wheel += event.deltaY;
    const steps = Math.trunc(wheel / WHEEL_PER_SLICE) || (Math.abs(event.deltaY) >= WHEEL_PER_SLICE ? Math.sign(event.deltaY) : 0);
    if (steps) {
      wheel = 0;
      handlers.step(steps);
    }
  }, { passive: false });

  stage.addEventListener("contextmenu", (event) => event.preventDefault());

  stage.addEventListener("pointerdown", (event) => {
    stage.setPointerCapture(event.pointerId);
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY, button: event.button });
    dragged = 0;
    pinch = pointers.size === 2 ? spread(pointers) : null;
    if (pointers.size === 1 && event.button === 0 && handlers.tool() === "roi") {
      handlers.roi?.("start", event.clientX, event.clientY);
    }
  });

  stage.addEventListener("pointermove", (event) => {
    const last = pointers.get(event.pointerId);
    if (!last) return;
    const dx = event.clientX - last.x;
    const dy = event.clientY - last.y;
    last.x = event.clientX;
    last.y = event.clientY;
    if (pointers.size === 2) {
      const now = spread(pointers);
      if (pinch) handlers.zoomBy(now / pinch);
      pinch = now;
      return;
    }
    const tool = last.button === 2 ? "window" : last.button === 1 ? "pan" : handlers.tool();
    if (tool === "roi") handlers.roi?.("move", event.clientX, event.clientY);
    else if (tool === "window") handlers.windowBy(dx, dy);
    else if (tool === "pan") handlers.panBy(dx, dy);
    else {
      dragged += dy;
      const steps = Math.trunc(dragged / PIXELS_PER_SLICE);
      if (steps) {
        dragged -= steps * PIXELS_PER_SLICE;
        handlers.step(steps);
      }
    }
  });

  const release = (event) => {
    const last = pointers.get(event.pointerId);
    if (last && last.button === 0 && pointers.size === 1 && handlers.tool() === "roi") {
      handlers.roi?.("end", event.clientX, event.clientY);
    }
    pointers.delete(event.pointerId);
    pinch = null;
  };
  stage.addEventListener("pointerup", release);
  stage.addEventListener("pointercancel", release);

  stage.addEventListener("keydown", (event) => {
    const keys = {
      ArrowUp: () => handlers.step(-1), ArrowLeft: () => handlers.step(-1),
      ArrowDown: () => handlers.step(1), ArrowRight: () => handlers.step(1),
      PageUp: () => handlers.step(-10), PageDown: () => handlers.step(10),
      Home: () => handlers.to(0), End: () => handlers.to(Infinity),
      "+": () => handlers.zoomBy(1.25), "=": () => handlers.zoomBy(1.25),
      "-": () => handlers.zoomBy(0.8), 0: () => handlers.reset(),
      "[": () => handlers.mark?.("start"), "]": () => handlers.mark?.("end"),
    };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
}

function spread(pointers) {
  const [a, b] = [...pointers.values()];
  return Math.hypot(a.x - b.x, a.y - b.y) || 1;
}
