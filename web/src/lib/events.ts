/**
 * Following a job's live events over the WebSocket `/jobs/{id}/events` (the API replays the job's
 * events on every connect, then streams new ones). A dropped connection is reopened with backoff;
 * replayed events already seen are skipped (keyed by type, step and time), so the screen never
 * goes backwards. The access token travels as the subprotocol pair `bearer, <token>`.
 */

import type { JobEvent } from "./job-events";

/** One message of the job-events WebSocket, generated from the API's JSON Schema (`npm run gen`). */
export type { JobEvent };

export type StreamState = "connecting" | "open" | "reconnecting" | "ended" | "failed";

export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(code?: number, reason?: string): void;
}

export interface FollowOptions {
  url: string;
  token: () => Promise<string | null>;
  onEvent: (event: JobEvent) => void;
  onState: (state: StreamState, detail?: string) => void;
  open?: (url: string, protocols: string[]) => SocketLike;
  /** Delays before reconnect attempts, in ms; the last repeats until maxAttempts. */
  backoff?: number[];
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const CLOSE_REASONS: Record<number, string> = {
  4401: "not signed in",
  4403: "this job is not yours",
  4404: "no such job",
  4429: "too many live views open; close another tab",
};

export function isTerminal(type: string): boolean {
  return TERMINAL.has(type);
}

/** Start following; returns a function that stops (and closes the socket). */
export function followJob(options: FollowOptions): () => void {
  const open = options.open ?? ((url, protocols) => new WebSocket(url, protocols));
  const backoff = options.backoff ?? [500, 1000, 2000, 4000, 8000];
  const maxAttempts = options.maxAttempts ?? 30;
  const sleep = options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  const seen = new Set<string>();
  let stopped = false;
  let finished = false;
  let attempt = 0;
  let socket: SocketLike | null = null;

  const connect = async (): Promise<void> => {
    if (stopped) return;
    options.onState(attempt === 0 ? "connecting" : "reconnecting");
    const token = await options.token();
    if (stopped) return;
    if (!token) {
      options.onState("failed", "not signed in");
      return;
    }
    const ws = open(options.url, ["bearer", token]);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      options.onState("open");
    };
    ws.onmessage = (message) => {
      let event: JobEvent;
      try {
        event = JSON.parse(String(message.data)) as JobEvent;
      } catch {
        return;
      }
      const key = `${event.type}:${event.step ?? 0}:${event.at ?? ""}`;
      if (seen.has(key)) return; // replayed after a reconnect
      seen.add(key);
      if (isTerminal(event.type)) finished = true;
      options.onEvent(event);
    };
    ws.onerror = () => {};
    ws.onclose = (close) => {
      socket = null;
      if (stopped) return;
      if (finished || close.code === 1000) {
        options.onState("ended");
        return;
      }
      const reason = CLOSE_REASONS[close.code];
      if (reason && close.code !== 4401) {
        options.onState("failed", reason);
        return;
      }
      if (attempt >= maxAttempts) {
        options.onState("failed", "the connection keeps dropping");
        return;
      }
      const delay = backoff[Math.min(attempt, backoff.length - 1)] ?? 1000;
      attempt++;
      options.onState("reconnecting");
      void sleep(delay).then(connect);
    };
  };

  void connect();
  return () => {
    stopped = true;
    socket?.close(1000, "left the page");
  };
}

/** ws:// or wss:// URL of a job's event stream on this origin. */
export function eventsUrl(jobId: string, origin = location.origin): string {
  return `${origin.replace(/^http/, "ws")}/jobs/${encodeURIComponent(jobId)}/events`;
}
