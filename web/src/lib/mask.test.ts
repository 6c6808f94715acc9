import { describe, expect, it } from "vitest";
import { Mask } from "./mask";

describe("Mask", () => {
  it("paints a round dab and fills the gap between fast pointer moves", () => {
    const m = new Mask(40, 20);
    m.begin("brush", 2, 2, 10);
    m.extend(38, 10); // one jump across the width
    for (let x = 2; x <= 37; x++) expect(m.data[10 * 40 + x]).toBe(255);
    expect(m.data[0]).toBe(0);
    expect(m.data[19 * 40 + 39]).toBe(0);
  });

  it("erases, undoes stroke by stroke and clears", () => {
    const m = new Mask(10, 10);
    m.begin("brush", 3, 5, 5);
    const painted = m.coverage();
    expect(painted).toBeGreaterThan(0.2);
    m.begin("eraser", 1, 5, 5);
    expect(m.data[5 * 10 + 5]).toBe(0);
    expect(m.coverage()).toBeLessThan(painted);
    m.undo(); // the eraser stroke goes: the brush dab is whole again
    expect(m.coverage()).toBe(painted);
    expect(m.canUndo).toBe(true);
    m.undo();
    expect(m.coverage()).toBe(0);
    expect(m.canUndo).toBe(false);
    m.begin("brush", 2, 1, 1);
    m.clear();
    expect(m.coverage()).toBe(0);
  });

  it("stays inside the picture and exports white = repaint, opaque", () => {
    const m = new Mask(4, 4);
    m.begin("brush", 10, -5, -5);
    const rgba = m.toRgba();
    expect(rgba.length).toBe(4 * 4 * 4);
    expect([...rgba.slice(0, 4)]).toEqual([255, 255, 255, 255]);
    const empty = new Mask(2, 1).toRgba();
    expect([...empty]).toEqual([0, 0, 0, 255, 0, 0, 0, 255]);
  });

  it("inverts as an undoable step, and counts revisions for reusing an upload", () => {
    const m = new Mask(10, 10);
    m.begin("brush", 2, 5, 5);
    const painted = m.coverage();
    const rev = m.revision;
    m.invert();
    expect(m.coverage()).toBeCloseTo(1 - painted);
    expect(m.data[0]).toBe(255);
    expect(m.revision).toBeGreaterThan(rev);
    m.begin("eraser", 1, 0, 0); // strokes after the inversion still apply on top
    expect(m.data[0]).toBe(0);
    m.undo();
    expect(m.data[0]).toBe(255);
    m.undo(); // the inversion goes
    expect(m.coverage()).toBe(painted);
  });
});

describe("Mask.fromRgba: a stored mask recalled", () => {
  const png = (w: number, h: number, white: (x: number, y: number) => boolean) => {
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = white(x, y) ? 250 : 3; // PNG resampling leaves near-white and near-black
        rgba.set([v, v, v, 255], (y * w + x) * 4);
      }
    return rgba;
  };

  it("marks white as repaint and keeps the rest; strokes undo back to it, Clear empties it", () => {
    const m = Mask.fromRgba(
      8,
      4,
      png(8, 4, (x) => x < 4),
    );
    expect(m.coverage()).toBe(0.5);
    expect(m.data[0]).toBe(255);
    expect(m.data[7]).toBe(0);
    expect(m.canUndo).toBe(false);
    expect(m.canClear).toBe(true);
    const before = m.revision;
    m.begin("brush", 1, 6.5, 1.5);
    expect(m.coverage()).toBeGreaterThan(0.5);
    expect(m.revision).toBeGreaterThan(before);
    m.undo();
    expect(m.coverage()).toBe(0.5); // back to the recalled mask, not to nothing
    m.invert();
    expect(m.data[0]).toBe(0);
    expect(m.data[7]).toBe(255);
    m.clear();
    expect(m.coverage()).toBe(0);
    expect(m.canClear).toBe(false);
  });

  it("refuses pixels of another size", () => {
    expect(() => Mask.fromRgba(8, 4, new Uint8ClampedArray(8 * 3 * 4))).toThrow(RangeError);
  });
});
