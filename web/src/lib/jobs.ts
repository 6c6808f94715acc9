import { api, call, type Job, type JobIn } from "./api";
import { toApiError } from "./errors";
import { noteLimits } from "./limits.svelte";

/** POST /jobs; remembers the RateLimit-* headers; throws ApiError (429 carries Retry-After). */
export async function submitJob(body: JobIn): Promise<Job> {
  let result;
  try {
    result = await api.POST("/jobs", { body });
  } catch {
    throw toApiError(0, {});
  }
  noteLimits(result.response.headers);
  return call(Promise.resolve(result));
}

/** Parse an optional integer field ("" = not set). */
export function optionalInt(value: string | number | null | undefined): number | null {
  if (value === "" || value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isInteger(n) ? n : NaN;
}
