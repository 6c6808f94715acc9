/**
 * Jobs left this hour: GET /users/me/quota on load, then the RateLimit-* headers of each POST /jobs
 * (IETF RateLimit header fields draft). `resetAt`: when the next counted picture frees (ms).
 */

import { api, call } from "./api";
import { formatWait } from "./errors";

export const limits = $state<{ limit: number | null; remaining: number | null; resetAt: number | null }>({
  limit: null,
  remaining: null,
  resetAt: null,
});

export function noteLimits(headers: Headers): void {
  const num = (name: string) => {
    const v = headers.get(name);
    return v !== null && /^\d+$/.test(v) ? Number(v) : null;
  };
  const reset = num("ratelimit-reset");
  limits.limit = num("ratelimit-limit") ?? limits.limit;
  limits.remaining = num("ratelimit-remaining") ?? limits.remaining;
  limits.resetAt = reset !== null ? Date.now() + reset * 1000 : limits.resetAt;
}

/** GET /users/me/quota (on Create, Change my photo and Plans): the count and when the next picture frees. */
export async function loadQuota(): Promise<void> {
  try {
    const q = await call(api.GET("/users/me/quota"));
    limits.limit = q.limit;
    limits.remaining = q.remaining;
    limits.resetAt = q.next_free_at ? Date.parse(q.next_free_at) : null;
  } catch {
    /* not signed in or an older API: the next job's RateLimit-* headers tell */
  }
}

/** "2 of 6 pictures left this hour; the next frees in 20 min" (empty while unknown). */
export function quotaText(now = Date.now()): string {
  if (limits.remaining === null || limits.limit === null) return "";
  const wait = limits.resetAt !== null && limits.remaining < limits.limit ? Math.max(0, (limits.resetAt - now) / 1000) : null;
  return `${limits.remaining} of ${limits.limit} pictures left this hour${wait !== null ? `; the next frees in ${formatWait(wait)}` : ""}`;
}
