/**
 * Which tasks this server runs now (GET /tasks, public): a task no worker offers is refused with
 * 503, so its button is disabled beforehand with a sentence in the user's words. Read at most once a
 * minute; an older API without the route leaves everything enabled.
 */

import { api, call } from "./api";

export const tasks = $state<{ off: Record<string, string> }>({ off: {} });
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

export async function loadTasks(now = Date.now()): Promise<void> {
  if (now - loadedAt < 60_000) return;
  loadedAt = now;
  try {
    const out = await call(api.GET("/tasks"));
    tasks.off = Object.fromEntries(
      out.tasks.filter((t) => !t.available).map((t) => [t.name, OFF[t.name] ?? `${t.name} is off on this server.`]),
    );
  } catch {
    loadedAt = 0;
  }
}
