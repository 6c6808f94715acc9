import { api, call, type Job, type JobBody, type JobIn } from "./api";
import { toApiError } from "./errors";
import { noteLimits } from "./limits.svelte";

/** POST /jobs; remembers the RateLimit-* headers; throws ApiError (429 carries Retry-After). */
export async function submitJob(body: JobIn): Promise<Job> {
  let result;
  try {
    result = await api.POST("/jobs", { body: body as JobBody });
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

/**
 * The other jobs of a variations batch (`JobOut.batch`, every job of one `POST /jobs` with
 * `count` > 1), numbered 1..n in the API's order; empty for a single job.
 */
export function batchSiblings(job: Pick<Job, "id" | "batch">): { id: string; number: number; current: boolean }[] {
  const ids = job.batch ?? [];
  if (ids.length < 2) return [];
  return ids.map((id, i) => ({ id, number: i + 1, current: id === job.id }));
}

const TASKS: Record<string, string> = {
  text2img: "Create",
  img2img: "Changed photo",
  inpaint: "Painted area",
  redesign: "Redesign",
  upscale: "Enlarge",
};

/** How a job is named in lists: its title (or prompt) and what kind of job it is. */
export function jobLabel(job: Pick<Job, "task" | "params">): string {
  const p = job.params ?? {};
  const title = typeof p.title === "string" && p.title ? p.title : typeof p.prompt === "string" ? p.prompt : "";
  const kind = TASKS[job.task] ?? job.task;
  return title ? `${kind}: ${title.length > 80 ? `${title.slice(0, 79)}…` : title}` : kind;
}
