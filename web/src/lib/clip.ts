/**
 * How much of a prompt the image model reads. Stable Diffusion's text encoder (CLIP ViT-L/14)
 * takes 77 tokens, two of them the start and end marks: 75 for the prompt; the rest is cut off
 * (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision",
 * §2.4; the tokenizer's `model_max_length` is 77).
 *
 * This is an estimate without the 49,408-entry BPE vocabulary (too big to ship to every phone):
 * CLIP's own pre-tokenizer split (letter runs, single digits, punctuation runs; lower-cased), a
 * letter run counted as one token per started 8 letters (common English words are one token).
 */

export const CLIP_TOKENS = 75;

const PIECES = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu;

function cost(piece: string): number {
  return /^\p{L}/u.test(piece) ? Math.max(1, Math.ceil(piece.length / 8)) : 1;
}

/** Estimated tokens of `text`, and the character offset where the model stops reading (null: it reads it all). */
export function clipEstimate(text: string, limit = CLIP_TOKENS): { tokens: number; cutAt: number | null } {
  let tokens = 0;
  let cutAt: number | null = null;
  for (const m of text.toLowerCase().matchAll(PIECES)) {
    tokens += cost(m[0]);
    if (cutAt === null && tokens > limit) cutAt = m.index ?? 0;
  }
  return { tokens, cutAt };
}
