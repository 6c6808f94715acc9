/**
 * What the browser can judge before sending (so every broken rule shows at once; the API stays the
 * authority and may still refuse). The rules are the API's: the e-mail pattern of RegisterIn /
 * ProfilePatch (web/openapi.json) and the job's size, steps, guidance and seed limits
 * (housify_ai.contract).
 */

/** RegisterIn.email's pattern: one @, a dot in the domain, none of the characters RFC 5322 reserves. */
// eslint-disable-next-line no-control-regex -- the API's pattern excludes control characters on purpose
const EMAIL = /^[^@\s<>()[\]\\,;:"\x00-\x1f\x7f]+@[^@\s<>()[\]\\,;:"\x00-\x1f\x7f]+\.[^@\s<>()[\]\\,;:"\x00-\x1f\x7f]+$/;

export function emailProblem(value: string): string | null {
  if (!value.trim()) return "Enter your e-mail address.";
  return EMAIL.test(value.trim()) ? null : "This is not a valid e-mail address (like name@example.com).";
}

export function required(value: string | number | null | undefined, what: string): string | null {
  return value === null || value === undefined || String(value).trim() === "" ? `Enter ${what}.` : null;
}

/** housify_ai.tasks.MAX_SEED: 2**32 - 1. */
export const MAX_SEED = 4294967295;

export interface JobNumbers {
  width?: number | string;
  height?: number | string;
  steps: number | string;
  seed: string;
  guidance: number | string;
}

/** Size 64–1024 px in multiples of 8, steps 1–100, guidance 0–30, seed a whole number ≥ 0 or empty. */
export function jobProblems(n: JobNumbers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const side of ["width", "height"] as const) {
    if (n[side] === undefined) continue;
    const v = Number(n[side]);
    if (!Number.isInteger(v) || v < 64 || v > 1024 || v % 8) out[side] = `The ${side} must be a multiple of 8 between 64 and 1024.`;
  }
  const steps = Number(n.steps);
  if (!Number.isInteger(steps) || steps < 1 || steps > 100) out.steps = "Steps must be a whole number from 1 to 100.";
  const guidance = Number(n.guidance);
  if (String(n.guidance).trim() === "" || !Number.isFinite(guidance) || guidance < 0 || guidance > 30)
    out.guidance_scale = "Guidance must be a number from 0 to 30.";
  const seed = n.seed.trim();
  if (seed && (!/^\d{1,10}$/.test(seed) || Number(seed) > MAX_SEED))
    out.seed = `The seed must be a whole number from 0 to ${MAX_SEED} (or empty for a random one).`;
  return out;
}

/** Drop the null entries of {field: problem | null}. */
export function problems(entries: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter((e): e is [string, string] => e[1] !== null));
}
