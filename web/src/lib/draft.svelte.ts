/**
 * What the user typed on Create and Change my photo, kept across screens and errors for the
 * page's lifetime (in memory; nothing typed is lost when a request fails or the user looks away).
 */

function jobDraft() {
  return { prompt: "", negative_prompt: "", notes: "", room: "", style: "", width: 512, height: 512, steps: 20, seed: "", guidance: 7.5, title: "", public: false, count: 1 };
}

function photoDraft() {
  return { ...jobDraft(), strength: 0.6, mode: "img2img" as "img2img" | "inpaint" | "redesign", restyle: "room" as "room" | "furniture" };
}

export const draft = $state({ create: jobDraft(), photo: photoDraft() });

/** Forget every draft (on log out: the next person at this device must not see them). */
export function resetDrafts(): void {
  Object.assign(draft.create, jobDraft());
  Object.assign(draft.photo, photoDraft());
}
