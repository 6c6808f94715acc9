/**
 * A picture's recipe (the settings of the job that drew it: `JobOut.params` as the API stored
 * them, the seed used included) shown on the picture, and "recall": those settings put back on
 * Create or Change my photo (InvokeAI's "use all" / "use seed").
 */

export type Params = Record<string, unknown>;

/** Text and photo drafts, the fields recall writes (see draft.svelte.ts). */
export interface JobDraftLike {
  prompt: string;
  negative_prompt: string;
  notes: string;
  wish: string | null;
  wishNegative: string;
  room: string;
  style: string;
  width: number;
  height: number;
  steps: number;
  seed: string;
  guidance: number;
  title: string;
  public: boolean;
  count: number;
}
export interface PhotoDraftLike extends JobDraftLike {
  strength: number;
  mode: "img2img" | "inpaint" | "redesign";
  restyle: "room" | "furniture";
}

const PHOTO_TASKS = new Set(["img2img", "inpaint", "redesign"]);

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The rows shown as the picture's recipe, in reading order; absent settings are left out. */
export function recipeRows(task: string, p: Params): [string, string][] {
  const rows: [string, string | null][] = [
    ["Made with", TASK_NAMES[task] ?? task],
    ["Prompt", str(p.prompt) || null],
    ["Negative prompt", str(p.negative_prompt) || null],
    ["Room type", str(p.room_type) || null],
    ["Style", str(p.style) || null],
    ["Restyle", p.restyle === "furniture" ? "furniture and decor only" : p.restyle === "room" ? "the whole room" : null],
    ["Seed", num(p.seed)?.toString() ?? null],
    ["Steps", num(p.steps)?.toString() ?? null],
    ["Size", num(p.width) && num(p.height) ? `${p.width}×${p.height} px` : num(p.long_side) ? `${p.long_side} px long side` : null],
    ["Guidance", num(p.guidance_scale)?.toString() ?? null],
    ["How much changed", num(p.strength) !== null ? `${Math.round((p.strength as number) * 100)}%` : null],
    ["Model", str(p.model) || null],
  ];
  return rows.filter((r): r is [string, string] => r[1] !== null);
}

const TASK_NAMES: Record<string, string> = {
  text2img: "Create (from a description)",
  img2img: "Change my photo (the whole photo)",
  inpaint: "Change my photo (only a painted area)",
  redesign: "Redesign (walls, windows and doors kept)",
  upscale: "Enlarge",
};

/** Whether the recipe belongs on Change my photo (it needs its source picture) rather than Create. */
export function isPhotoTask(task: string): boolean {
  return PHOTO_TASKS.has(task);
}

/**
 * Write the recipe into a draft. `newPrompt`: keep the seed and every setting but empty the
 * description ("same seed, new prompt"). The title is left empty (the new picture gets its own).
 */
export function applyRecipe(task: string, p: Params, d: JobDraftLike | PhotoDraftLike, newPrompt = false): void {
  d.prompt = newPrompt ? "" : str(p.prompt);
  d.negative_prompt = str(p.negative_prompt);
  d.notes = "";
  d.wish = null;
  d.wishNegative = "";
  d.room = str(p.room_type);
  d.style = str(p.style);
  if (num(p.width)) d.width = p.width as number;
  if (num(p.height)) d.height = p.height as number;
  if (num(p.steps)) d.steps = p.steps as number;
  if (num(p.guidance_scale) !== null) d.guidance = p.guidance_scale as number;
  d.seed = num(p.seed) !== null ? String(p.seed) : "";
  d.title = "";
  d.count = 1;
  if ("mode" in d && isPhotoTask(task)) {
    d.mode = task as PhotoDraftLike["mode"];
    if (num(p.strength) !== null) d.strength = p.strength as number;
    if (p.restyle === "room" || p.restyle === "furniture") d.restyle = p.restyle;
  }
}
