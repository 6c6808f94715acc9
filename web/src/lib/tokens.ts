/**
 * Access token in memory only; the refresh token in the API's HttpOnly cookie (cookie mode,
 * `X-Refresh-Cookie: 1`, see housify_api.auth.cookie). A page reload restores the session by one
 * cookie refresh; a 401 triggers one refresh (shared by concurrent callers) and one retry.
 */

import { toApiError } from "./errors";

export const COOKIE_MODE = { "X-Refresh-Cookie": "1" } as const;
/** Not a secret: only says "a refresh cookie may exist", so a fresh visitor sends no doomed refresh. */
const HINT_KEY = "housify.session";
/** Refresh this many seconds before the access token expires (for WebSocket connects). */
const LEEWAY_S = 20;

type Fetch = (input: Request) => Promise<Response>;

interface Hint {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class TokenStore {
  private access: string | null = null;
  private expiresAt = 0;
  private inflight: Promise<boolean> | null = null;
  private listeners = new Set<(token: string | null) => void>();

  constructor(
    private readonly doFetch: Fetch,
    private readonly hint: Hint | null,
    private readonly base: string = globalThis.location?.origin ?? "http://127.0.0.1",
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  get token(): string | null {
    return this.access;
  }

  /** Called with the new token (or null) whenever it changes. */
  subscribe(fn: (token: string | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(token: string | null, expiresIn = 0): void {
    this.access = token;
    this.expiresAt = token ? this.now() + expiresIn : 0;
    if (token) this.hint?.setItem(HINT_KEY, "1");
    else this.hint?.removeItem(HINT_KEY);
    for (const fn of this.listeners) fn(token);
  }

  /** Password grant in cookie mode. Throws ApiError (401 bad credentials, 429 with Retry-After, ...). */
  async login(email: string, password: string): Promise<void> {
    const body = new URLSearchParams({ grant_type: "password", username: email, password });
    const response = await this.doFetch(tokenRequest(this.base, body));
    const json: unknown = await response.json().catch(() => ({}));
    if (!response.ok) throw toApiError(response.status, json, response.headers);
    const pair = json as { access_token: string; expires_in: number };
    this.set(pair.access_token, pair.expires_in);
  }

  /** Whether a session may be restorable (the hint is set). */
  get maybeSignedIn(): boolean {
    return this.hint?.getItem(HINT_KEY) === "1";
  }

  /** One cookie refresh for all concurrent callers; true when a new access token came back. */
  refresh(): Promise<boolean> {
    this.inflight ??= (async () => {
      try {
        const response = await this.doFetch(tokenRequest(this.base, new URLSearchParams({ grant_type: "refresh_token" })));
        if (!response.ok) {
          this.set(null);
          return false;
        }
        const pair = (await response.json()) as { access_token: string; expires_in: number };
        this.set(pair.access_token, pair.expires_in);
        return true;
      } catch {
        return false; // network down: keep the current token, the caller shows the error
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  /** A token valid for at least LEEWAY_S more seconds (refreshing if needed), or null. */
  async fresh(): Promise<string | null> {
    if (this.access && this.expiresAt - this.now() > LEEWAY_S) return this.access;
    if (!this.access && !this.maybeSignedIn) return null;
    await this.refresh();
    return this.access;
  }

  /** Forget the token here (the server side is ended by /auth/logout). */
  clear(): void {
    this.set(null);
  }

  /** fetch with the Bearer token; on 401 refresh once and retry once. */
  readonly fetch: Fetch = async (request: Request): Promise<Response> => {
    const retry = request.clone();
    if (this.access && this.expiresAt - this.now() < LEEWAY_S) await this.refresh(); // no 401 round trip when due
    const sentWith = this.access;
    const response = await this.doFetch(withBearer(request, sentWith));
    if (response.status !== 401 || (!sentWith && !this.maybeSignedIn)) return response;
    // Someone else may have refreshed already while this request was in flight.
    const ok = this.access !== sentWith && this.access !== null ? true : await this.refresh();
    return ok ? this.doFetch(withBearer(retry, this.access)) : response;
  };
}

function tokenRequest(base: string, body: URLSearchParams): Request {
  return new Request(new URL("/auth/token", base), {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...COOKIE_MODE },
  });
}

function withBearer(request: Request, token: string | null): Request {
  if (!token) return request;
  const headers = new Headers(request.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}
