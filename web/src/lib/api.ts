/** The typed API client (openapi-fetch over the schema generated from housify-api's OpenAPI document). */

import createClient from "openapi-fetch";
import type { components, paths } from "./api-schema";
import { ApiError, toApiError } from "./errors";
import { TokenStore } from "./tokens";

export type Schemas = components["schemas"];
export type User = Schemas["UserOut"];
export type Image = Schemas["ImageOut"];
export type Job = Schemas["JobOut"];
/** `POST /jobs`'s body: one schema per task, picked by `task` (OpenAPI `oneOf` with a discriminator). */
export type JobBody = NonNullable<paths["/jobs"]["post"]["requestBody"]>["content"]["application/json"];
type KeysOf<T> = T extends unknown ? keyof T : never;
type ValueOf<T, K extends PropertyKey> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;
/** Any task's fields, flat (the screens build one object per form); the API refuses what the task does not take. */
export type JobIn = { [K in KeysOf<JobBody>]?: ValueOf<JobBody, K> | null };

const hint = typeof localStorage === "undefined" ? null : localStorage;
export const tokens = new TokenStore((request) => fetch(request), hint);
export const api = createClient<paths>({ baseUrl: globalThis.location?.origin ?? "", fetch: tokens.fetch });

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Unwrap an openapi-fetch result: the data, or throw an ApiError (status 0 when the network failed). */
export async function call<T>(pending: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await pending;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw toApiError(0, {});
  }
  if (!result.response.ok) throw toApiError(result.response.status, result.error, result.response.headers);
  return result.data as T;
}

/** The URL of an image's bytes for <img src>, as the API hands it out: a short-lived signed URL that the
 * server's edge serves without credentials (no Authorization header, no blob). */
export function imageSrc(image: Pick<Image, "url" | "thumb_url">, thumb = false): string {
  return thumb ? image.thumb_url : image.url;
}

/** Call `refresh` shortly (`marginMs`) before the first of `images`' signed URLs expires (they live 2-4 minutes);
 * returns the cancel function, for an $effect's cleanup. */
export function refreshBeforeExpiry(images: Pick<Image, "urls_expire_at">[], refresh: () => void, marginMs = 20_000): () => void {
  if (!images.length) return () => {};
  const first = Math.min(...images.map((image) => Date.parse(image.urls_expire_at)));
  const timer = setTimeout(refresh, Math.max(1_000, first - Date.now() - marginMs));
  return () => clearTimeout(timer);
}

/** Upload a file (multipart), returning the stored image; `purpose` "mask": an inpaint's mask, which
 * belongs to its job (not in History, never public, not charged to storage). */
export async function upload(file: Blob, title: string, filename = "photo.png", purpose: "picture" | "mask" = "picture"): Promise<Image> {
  const form = new FormData();
  form.append("file", file, filename);
  if (title) form.append("title", title);
  if (purpose !== "picture") form.append("purpose", purpose);
  const response = await tokens
    .fetch(new Request(new URL("/images/uploads", location.origin), { method: "POST", body: form }))
    .catch(() => {
      throw toApiError(0, {});
    });
  const body: unknown = await response.json().catch(() => ({}));
  if (!response.ok) throw toApiError(response.status, body, response.headers);
  return body as Image;
}
