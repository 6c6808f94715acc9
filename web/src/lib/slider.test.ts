import { describe, expect, it } from "vitest";
import { clampPercent, percentAt, percentForKey } from "./slider";

describe("before/after slider", () => {
  it("maps a pointer to percent of the width, clamped", () => {
    expect(percentAt(150, 100, 200)).toBe(25);
    expect(percentAt(50, 100, 200)).toBe(0);
    expect(percentAt(400, 100, 200)).toBe(100);
    expect(percentAt(10, 0, 0)).toBe(50);
  });

  it("follows the WAI-ARIA slider keys", () => {
    expect(percentForKey("ArrowLeft", 50)).toBe(45);
    expect(percentForKey("ArrowUp", 50)).toBe(55);
    expect(percentForKey("PageDown", 10)).toBe(0);
    expect(percentForKey("Home", 70)).toBe(0);
    expect(percentForKey("End", 70)).toBe(100);
    expect(percentForKey("Enter", 70)).toBeNull();
    expect(clampPercent(Number.NaN)).toBe(50);
  });
});
