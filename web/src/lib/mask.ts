/**
 * The inpainting mask as data: strokes of a round brush or eraser over a width x height grid,
 * with undo. 255 = repaint (white in the PNG sent as mask_image_id), 0 = keep (housify API:
 * "white = repaint"). Pure, so it is unit-tested without a canvas; MaskPainter draws it.
 */

export type Tool = "brush" | "eraser";

export interface Stroke {
  /** "invert": swap marked and kept over the whole picture (an undoable step like a stroke). */
  tool: Tool | "invert";
  radius: number;
  points: Array<[number, number]>;
}

export class Mask {
  readonly data: Uint8Array;
  private strokes: Stroke[] = [];
  /** What the strokes are painted over: a recalled mask (undo goes back to it, clear empties it too), or none. */
  private base: Uint8Array | null = null;
  /** Counts every change (paint, undo, clear, invert): an upload of this mask can be reused while it stays. */
  revision = 0;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height);
  }

  /**
   * A stored mask back as a Mask (recall of an inpaint's settings): RGBA pixels of width x height,
   * repaint where the red channel is at least 128 (the API's rule: white = repaint). Nothing to undo.
   */
  static fromRgba(width: number, height: number, rgba: ArrayLike<number>): Mask {
    if (rgba.length !== width * height * 4) throw new RangeError(`expected ${width * height * 4} RGBA values, got ${rgba.length}`);
    const mask = new Mask(width, height);
    for (let i = 0; i < mask.data.length; i++) mask.data[i] = (rgba[i * 4] ?? 0) >= 128 ? 255 : 0;
    mask.base = mask.data.slice();
    return mask;
  }

  get canUndo(): boolean {
    return this.strokes.length > 0;
  }

  /** Whether Clear changes anything: strokes to drop or a recalled mask to empty. */
  get canClear(): boolean {
    return this.strokes.length > 0 || (this.base?.some((v) => v !== 0) ?? false);
  }

  /** Fraction of pixels marked for repainting (0..1). */
  coverage(): number {
    let n = 0;
    for (const v of this.data) if (v) n++;
    return n / this.data.length;
  }

  begin(tool: Tool, radius: number, x: number, y: number): void {
    const stroke: Stroke = { tool, radius, points: [[x, y]] };
    this.strokes.push(stroke);
    this.stamp(stroke, x, y);
    this.revision++;
  }

  /** Mark what was kept and keep what was marked. */
  invert(): void {
    this.strokes.push({ tool: "invert", radius: 0, points: [] });
    this.flip();
    this.revision++;
  }

  private flip(): void {
    for (let i = 0; i < this.data.length; i++) this.data[i] = this.data[i] ? 0 : 255;
  }

  /** Extend the current stroke to (x, y), filling the segment so fast moves leave no gaps. */
  extend(x: number, y: number): void {
    const stroke = this.strokes[this.strokes.length - 1];
    if (!stroke) return;
    const last = stroke.points[stroke.points.length - 1] ?? [x, y];
    stroke.points.push([x, y]);
    this.segment(stroke, last[0], last[1], x, y);
    this.revision++;
  }

  undo(): void {
    this.strokes.pop();
    this.redraw();
  }

  clear(): void {
    this.strokes = [];
    this.base = null;
    this.redraw();
  }

  /** RGBA pixels: white where marked, black elsewhere (for the PNG upload). */
  toRgba(): Uint8ClampedArray {
    const out = new Uint8ClampedArray(this.data.length * 4);
    for (let i = 0; i < this.data.length; i++) {
      const v = this.data[i] ? 255 : 0;
      out[i * 4] = v;
      out[i * 4 + 1] = v;
      out[i * 4 + 2] = v;
      out[i * 4 + 3] = 255;
    }
    return out;
  }

  private redraw(): void {
    this.revision++;
    if (this.base) this.data.set(this.base);
    else this.data.fill(0);
    for (const stroke of this.strokes) {
      if (stroke.tool === "invert") {
        this.flip();
        continue;
      }
      const [first, ...rest] = stroke.points;
      if (!first) continue;
      this.stamp(stroke, first[0], first[1]);
      let prev = first;
      for (const p of rest) {
        this.segment(stroke, prev[0], prev[1], p[0], p[1]);
        prev = p;
      }
    }
  }

  private segment(stroke: Stroke, x0: number, y0: number, x1: number, y1: number): void {
    const dist = Math.hypot(x1 - x0, y1 - y0);
    const steps = Math.max(1, Math.ceil(dist / Math.max(1, stroke.radius / 2)));
    for (let i = 1; i <= steps; i++) {
      this.stamp(stroke, x0 + ((x1 - x0) * i) / steps, y0 + ((y1 - y0) * i) / steps);
    }
  }

  private stamp(stroke: Stroke, cx: number, cy: number): void {
    const r = stroke.radius;
    const value = stroke.tool === "brush" ? 255 : 0;
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(this.width - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(this.height - 1, Math.ceil(cy + r));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) this.data[y * this.width + x] = value;
      }
    }
  }
}
