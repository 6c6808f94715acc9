/** Jobs left this hour, from the RateLimit-* headers of the last POST /jobs (IETF RateLimit header fields draft). */

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
