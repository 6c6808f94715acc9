/** API errors turned into what a screen shows: a message per field, retry time, what is down. */

export interface ApiErrorBody {
  status_code?: number;
  detail?: string;
  extra?: unknown;
}

export class ApiError extends Error {
  /** Field name -> message, from `extra[].key` or a `field: rule` detail. */
  readonly fields: Record<string, string>;
  constructor(
    readonly status: number,
    readonly detail: string,
    fields: Record<string, string>,
    /** Seconds until a 429/503 may be retried (`Retry-After`), if the server said. */
    readonly retryAfter: number | null,
  ) {
    super(detail);
    this.fields = fields;
  }

  /** The sentence for the form as a whole (not tied to a field we show). */
  summary(shownFields: readonly string[] = []): string {
    if (this.status === 429) {
      const wait = this.retryAfter !== null ? ` Try again in ${formatWait(this.retryAfter)}.` : "";
      if (/try again/i.test(this.detail) && this.retryAfter !== null) {
        return `Too many requests: ${this.detail.replace(/;?\s*try again in \d+ ?s\.?$/i, "")}.${wait}`;
      }
      return `Too many requests: ${this.detail}.${wait}`;
    }
    if (this.status === 503) return `Temporarily unavailable: ${this.detail}`;
    if (this.status === 0) return "Cannot reach Housify. Check your connection; nothing you typed was lost.";
    if (shownFields.some((f) => f in this.fields)) return "Please correct the marked fields.";
    return this.detail;
  }
}

export function formatWait(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
}

const FIELD_DETAIL = /^([a-z_][a-z0-9_.]*):\s*(.+)$/i;

/** Parse a failed Response (or a network failure: status 0) into an ApiError. */
export function toApiError(status: number, body: unknown, headers?: Headers): ApiError {
  const b = (body && typeof body === "object" ? body : {}) as ApiErrorBody;
  const detail = typeof b.detail === "string" && b.detail ? b.detail : statusText(status);
  const fields: Record<string, string> = {};
  if (Array.isArray(b.extra)) {
    for (const item of b.extra) {
      if (item && typeof item === "object" && "key" in item && typeof item.key === "string") {
        const msg = "message" in item && typeof item.message === "string" ? item.message : detail;
        fields[item.key] = humanise(msg, detail, item.key);
      }
    }
  }
  const match = FIELD_DETAIL.exec(detail);
  if (match && match[1] && match[2] && !(match[1] in fields)) fields[match[1]] = match[2];
  const header = headers?.get("retry-after");
  const retryAfter = header && /^\d+$/.test(header) ? Number(header) : null;
  return new ApiError(status, detail, fields, retryAfter);
}

function humanise(message: string, detail: string, key: string): string {
  // Litestar puts short codes (e.g. "unsupported_grant_type") in extra; the detail has the sentence.
  if (/^[a-z_]+$/.test(message)) {
    const m = FIELD_DETAIL.exec(detail);
    return m && m[1] === key && m[2] ? m[2] : detail;
  }
  return message;
}

function statusText(status: number): string {
  switch (status) {
    case 0:
      return "network error";
    case 401:
      return "please log in";
    case 403:
      return "not allowed";
    case 404:
      return "not found";
    case 413:
      return "the file is too large";
    case 429:
      return "rate limit reached";
    case 503:
      return "a service is unavailable";
    default:
      return `error ${status}`;
  }
}
