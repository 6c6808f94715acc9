/**
 * What the user typed on Create and Change my photo, kept across screens and errors for the
 * page's lifetime (in memory; nothing typed is lost when a request fails or the user looks away).
 */

import type { Image } from "./api";
import type { Mask } from "./mask";

function jobDraft() {
  // `wish`/`wishNegative`: what the user wrote before the assistant rewrote it (null: not rewritten).
  return {
    prompt: "",
    negative_prompt: "",
    notes: "",
    wish: null as string | null,
    wishNegative: "",
    room: "",
    style: "",
    width: 512,
    height: 512,
    steps: 20,
    seed: "",
    guidance: 7.5,
    title: "",
    public: false,
    count: 1,
  };
}

function photoDraft() {
  return { ...jobDraft(), strength: 0.6, mode: "img2img" as "img2img" | "inpaint" | "redesign", restyle: "room" as "room" | "furniture" };
}

export const draft = $state({ create: jobDraft(), photo: photoDraft() });

/**
 * Change my photo's picture and painted mask, kept while the user looks elsewhere (a retry must not
 * upload the photo again). `url`: a blob: URL of the photo; `maskUpload`: the stored mask of the
 * mask's `revision`, reused while nothing is painted anew.
 */
export const photoKept: { source: Image | null; url: string; mask: Mask | null; maskUpload: { revision: number; id: string } | null } =
  $state({ source: null, url: "", mask: null, maskUpload: null });

export function keepPhoto(source: Image | null, url: string): void {
  if (photoKept.url && photoKept.url !== url) URL.revokeObjectURL(photoKept.url);
  photoKept.source = source;
  photoKept.url = url;
  photoKept.mask = null;
  photoKept.maskUpload = null;
}

/** Forget every draft (on log out: the next person at this device must not see them). */
export function resetDrafts(): void {
  Object.assign(draft.create, jobDraft());
  Object.assign(draft.photo, photoDraft());
  keepPhoto(null, "");
}
