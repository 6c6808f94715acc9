/**
 * Which tasks this server runs now and which plans include each (GET /tasks, public). A task no
 * worker offers is refused with 503 and one the user's plan lacks with 403, so its button is
 * disabled beforehand with a sentence in the user's words (and, for a plan, the one that has it and
 * a link to Plans). Read at most once a minute; an older API without the route, or without
 * `levels`, leaves everything enabled.
 */

import { api, call } from "./api";

/** `off`: task -> why no worker runs it; `levels`: task -> the plans that include it, cheapest first. */
export const tasks = $state<{ off: Record<string, string>; levels: Record<string, string[]> }>({ off: {}, levels: {} });
let loadedAt = 0;

/** The user's words for a task that is off here. */
const OFF: Record<string, string> = {
  text2img: "Creating pictures is off on this server right now.",
  img2img: "Changing a whole photo is off on this server right now.",
  inpaint: "Changing a painted area is off on this server right now.",
  redesign: "Redesign is off on this server right now.",
  upscale: "Enlarge is off on this server.",
  prompt_assist: "The assistant is off on this server right now.",
};

/** What the user calls each task (the screens' words). */
export const TASK_WORDS: Record<string, string> = {
  text2img: "Create",
  img2img: "Changing the whole photo",
  inpaint: "Changing a painted area",
  redesign: "Redesign",
  upscale: "Enlarge",
};

export async function loadTasks(now = Date.now()): Promise<void> {
  if (now - loadedAt < 60_000) return;
  loadedAt = now;
  try {
    const out = await call(api.GET("/tasks"));
    tasks.off = Object.fromEntries(
      out.tasks.filter((t) => !t.available).map((t) => [t.name, OFF[t.name] ?? `${t.name} is off on this server.`]),
    );
    tasks.levels = Object.fromEntries(out.tasks.filter((t) => Array.isArray(t.levels)).map((t) => [t.name, t.levels]));
  } catch {
    loadedAt = 0;
  }
}

/** A plan's short name for a mark: "Pro-Tier" -> "Pro". */
export function planLabel(level: string): string {
  return level.replace(/-Tier$/, "");
}

/** Why the user's plan cannot run `task`: `plan` is the mark ("Pro"; empty when no plan has it). */
export interface PlanGate {
  plan: string;
  reason: string;
}

/**
 * The gate of `task` for a user on `level` (GET /users/me `subscription_level`), from GET /tasks'
 * `levels`: null while either is unknown or the plan includes it; else the cheapest plan that has it
 * and a sentence ("Enlarge is in the Pro-Tier plan; you are on Free-Tier.").
 */
export function planGate(task: string, level: string | null | undefined): PlanGate | null {
  const levels = tasks.levels[task];
  if (!level || !levels || levels.includes(level)) return null;
  const words = TASK_WORDS[task] ?? task;
  const cheapest = levels[0];
  if (!cheapest) return { plan: "", reason: `${words} is not in any plan right now.` };
  return { plan: planLabel(cheapest), reason: `${words} is in the ${cheapest} plan; you are on ${level}.` };
}

/** The tasks a plan includes, in the user's words (Plans lists them). */
export function tasksOf(level: string): string[] {
  return Object.entries(tasks.levels)
    .filter(([, levels]) => levels.includes(level))
    .map(([task]) => TASK_WORDS[task] ?? task);
}

/** Forget what was read (tests; a log-in as someone else reads the same public list again). */
export function resetTasks(): void {
  tasks.off = {};
  tasks.levels = {};
  loadedAt = 0;
}
