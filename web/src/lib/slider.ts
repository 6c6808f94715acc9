/** The before/after slider's arithmetic: where the divider is, in percent of the width. */

export function clampPercent(value: number): number {
  return Math.min(100, Math.max(0, Number.isFinite(value) ? value : 50));
}

/** Percent for a pointer at clientX over an element spanning [left, left + width). */
export function percentAt(clientX: number, left: number, width: number): number {
  if (width <= 0) return 50;
  return clampPercent(((clientX - left) / width) * 100);
}

/** New percent after a key press (WAI-ARIA slider pattern keys); null for other keys. */
export function percentForKey(key: string, current: number, step = 5): number | null {
  switch (key) {
    case "ArrowLeft":
    case "ArrowDown":
      return clampPercent(current - step);
    case "ArrowRight":
    case "ArrowUp":
      return clampPercent(current + step);
    case "PageDown":
      return clampPercent(current - 25);
    case "PageUp":
      return clampPercent(current + 25);
    case "Home":
      return 0;
    case "End":
      return 100;
    default:
      return null;
  }
}
