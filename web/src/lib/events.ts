/**
 * Live job events over the API's WebSocket `/jobs/events`: every job of the signed-in user on ONE
 * socket ({@link UserJobStream}), shared by every screen that listens ({@link userJobs}). The server
 * replays the events of the user's queued and running jobs on each connect and follows jobs submitted
 * later; jobs that ended while the socket was down are not replayed, so a listener reads `GET /jobs`
 * again when told the stream reopened (`onOpen(true)`). The socket reconnects with backoff, and the
 * events a reconnect replays are skipped (keyed by job, type, step and time), so a screen never goes
 * backwards. The access token travels as the subprotocol pair `bearer, <token>`.
 *
 * A message is one member of a union discriminated by `type` (generated from the API's JSON Schema,
 * `npm run gen`): switch on it. A message of a type this build does not know (a newer server) is
 * ignored with a console warning.
 */

import { tokens } from "./api";
import type { JobEvent, JobEventOf } from "./job-events";

/** One message of the job-events WebSocket, generated from the API's JSON Schema (`npm run gen`). */
export type { JobEvent, JobEventOf };
export type JobEventType = JobEvent["type"];

export type StreamState = "connecting" | "open" | "reconnecting" | "failed";

export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(code?: number, reason?: string): void;
}

/** How a stream connects and retries (the defaults suit the browser; tests pass fakes). */
export interface Connection {
  url: string;
  token: () => Promise<string | null>;
  open?: (url: string, protocols: string[]) => SocketLike;
  /** Delays before reconnect attempts, in ms; the last repeats until maxAttempts. */
  backoff?: number[];
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Every event type, checked against the generated union: a type missing here or unknown there fails `npm run check`. */
const TYPES: Record<JobEventType, boolean> = {
  queued: false,
  started: false,
  progress: false,
  preview: false,
  succeeded: true,
  failed: true,
  cancelled: true,
};
/** Closes after which reconnecting is pointless (4401 is not: the token is refreshed on reconnect). */
const REFUSALS: Record<number, string> = {
  4429: "too many live views open; close another tab",
};

/** Whether a job status or event type is final (succeeded, failed, cancelled). */
export function isTerminal(type: string): boolean {
  return TYPES[type as JobEventType] === true;
}

/** The event of a message, or null (with a console warning) for one that is not a known event. */
export function parseEvent(data: unknown): JobEvent | null {
  let event: unknown;
  try {
    event = JSON.parse(String(data));
  } catch {
    return null;
  }
  const type = (event as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !(type in TYPES) || typeof (event as { job_id?: unknown }).job_id !== "string") {
    console.warn("job events: ignored a message that is not a known event; its type:", type);
    return null;
  }
  return event as JobEvent;
}

/** The key a replayed event repeats (the server replays a job's stream from its start). */
function replayKey(event: JobEvent): string {
  return `${event.job_id}:${event.type}:${"step" in event ? event.step : 0}:${event.at ?? ""}`;
}

interface StreamHooks {
  onEvent: (event: JobEvent) => void;
  onState: (state: StreamState, detail?: string) => void;
  onOpen?: (reconnected: boolean) => void;
}

/** One socket kept open with backoff; returns a function that stops (and closes it). */
function connectStream(connection: Connection, hooks: StreamHooks): () => void {
  const open = connection.open ?? ((url, protocols) => new WebSocket(url, protocols));
  const backoff = connection.backoff ?? [500, 1000, 2000, 4000, 8000];
  const maxAttempts = connection.maxAttempts ?? 30;
  const sleep = connection.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  let stopped = false;
  let attempt = 0;
  let opened = false;
  let socket: SocketLike | null = null;

  const connect = async (): Promise<void> => {
    if (stopped) return;
    hooks.onState(attempt === 0 && !opened ? "connecting" : "reconnecting");
    const token = await connection.token();
    if (stopped) return;
    if (!token) {
      hooks.onState("failed", "not signed in");
      return;
    }
    const ws = open(connection.url, ["bearer", token]);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      hooks.onState("open");
      hooks.onOpen?.(opened);
      opened = true;
    };
    ws.onmessage = (message) => {
      const event = parseEvent(message.data);
      if (event) hooks.onEvent(event);
    };
    ws.onerror = () => {};
    ws.onclose = (close) => {
      socket = null;
      if (stopped) return;
      const reason = REFUSALS[close.code];
      if (reason) {
        hooks.onState("failed", reason);
        return;
      }
      if (attempt >= maxAttempts) {
        hooks.onState("failed", "the connection keeps dropping");
        return;
      }
      const delay = backoff[Math.min(attempt, backoff.length - 1)] ?? 1000;
      attempt++;
      hooks.onState("reconnecting");
      void sleep(delay).then(connect);
    };
  };

  void connect();
  return () => {
    stopped = true;
    socket?.close(1000, "left the page");
  };
}

/** A listener of the user's job stream. */
export interface JobsListener {
  onEvent: (event: JobEvent) => void;
  /** The socket opened (`reconnected`: not for the first time): events of jobs that ended meanwhile are not replayed. */
  onOpen?: (reconnected: boolean) => void;
  onState?: (state: StreamState, detail?: string) => void;
}

/**
 * `/jobs/events`: one socket for every job of the user, shared by all listeners. The first
 * {@link subscribe} opens it; it closes `lingerMs` after the last listener leaves (so moving from
 * one screen to another keeps it).
 */
export class UserJobStream {
  private readonly listeners = new Set<JobsListener>();
  private stop: (() => void) | null = null;
  private linger: ReturnType<typeof setTimeout> | undefined;
  /** Replay keys of the events delivered, per job (dropped when the job ends). */
  private readonly seen = new Map<string, Set<string>>();
  state: StreamState = "connecting";
  detail = "";

  constructor(
    private readonly connection: Connection,
    private readonly lingerMs = 5_000,
  ) {}

  /**
   * Listen; returns the function that stops listening. The listener is told the state at once, and
   * `onOpen(false)` when the stream is already open (so "list on open" is one code path).
   */
  subscribe(listener: JobsListener): () => void {
    this.listeners.add(listener);
    clearTimeout(this.linger);
    if (!this.stop) {
      this.start(); // tells every listener its states from here on
    } else {
      listener.onState?.(this.state, this.detail);
      if (this.state === "open") listener.onOpen?.(false);
    }
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size) return;
      clearTimeout(this.linger);
      this.linger = setTimeout(() => this.close(), this.lingerMs);
    };
  }

  /** Close the socket now (e.g. on sign-out); the next subscribe opens a new one. */
  close(): void {
    clearTimeout(this.linger);
    this.stop?.();
    this.stop = null;
    this.seen.clear();
    this.state = "connecting";
    this.detail = "";
  }

  private start(): void {
    this.stop = connectStream(this.connection, {
      onEvent: (event) => this.deliver(event),
      onState: (state, detail) => {
        this.state = state;
        this.detail = detail ?? "";
        for (const listener of [...this.listeners]) listener.onState?.(state, detail);
        if (state === "failed") this.stop = null; // a later subscribe tries again
      },
      onOpen: (reconnected) => {
        for (const listener of [...this.listeners]) listener.onOpen?.(reconnected);
      },
    });
  }

  private deliver(event: JobEvent): void {
    const keys = this.seen.get(event.job_id) ?? new Set<string>();
    const key = replayKey(event);
    if (keys.has(key)) return; // replayed after a reconnect
    // An ended job keeps only its last event's key (a reconnect racing its end may replay it).
    this.seen.set(event.job_id, isTerminal(event.type) ? new Set([key]) : keys.add(key));
    for (const listener of [...this.listeners]) listener.onEvent(event);
  }
}

/** ws:// or wss:// URL of a path on this origin. */
export function wsUrl(path: string, origin = location.origin): string {
  return `${origin.replace(/^http/, "ws")}${path}`;
}

let shared: UserJobStream | null = null;

/** The page's one stream of the signed-in user's job events (`/jobs/events`). */
export function userJobs(): UserJobStream {
  if (!shared) {
    const stream = new UserJobStream({ url: wsUrl("/jobs/events"), token: () => tokens.fresh() });
    // Signed out (or the session ended): the socket was the previous user's.
    tokens.subscribe((token) => {
      if (!token) stream.close();
    });
    shared = stream;
  }
  return shared;
}
