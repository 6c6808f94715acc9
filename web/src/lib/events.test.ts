import { afterEach, describe, expect, it, vi } from "vitest";
import { isTerminal, parseEvent, UserJobStream, type JobEventOf, type JobEventType, type JobsListener, type SocketLike } from "./events";

/** What a test sends: one event type's own fields (the generated types), job id and version filled in. */
type Sent = { [K in JobEventType]: Omit<JobEventOf[K], "job_id" | "v"> & { job_id?: string } }[JobEventType];

class FakeSocket implements SocketLike {
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closed = false;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  open() {
    this.onopen?.(new Event("open"));
  }
  send(event: Sent) {
    this.raw(JSON.stringify({ job_id: "j1", v: 2, ...event }));
  }
  raw(data: string) {
    this.onmessage?.({ data } as MessageEvent);
  }
  drop(code = 1006) {
    this.onclose?.({ code } as CloseEvent);
  }
  close() {
    this.closed = true;
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function fakeConnection() {
  const sockets: FakeSocket[] = [];
  const delays: number[] = [];
  return {
    sockets,
    delays,
    connection: {
      token: async () => "tok",
      open: (url: string, protocols: string[]) => {
        const s = new FakeSocket(url, protocols);
        sockets.push(s);
        return s;
      },
      backoff: [10, 20],
      sleep: async (ms: number) => {
        delays.push(ms);
      },
    },
  };
}

describe("parseEvent", () => {
  afterEach(() => vi.restoreAllMocks());

  it("narrows a known message by its type", () => {
    const event = parseEvent(JSON.stringify({ type: "progress", job_id: "j", v: 2, at: 1, step: 3, total: 8, attempt: 1 }));
    expect(event?.type).toBe("progress");
    if (event?.type === "progress") expect(event.step / (event.total ?? 1)).toBe(3 / 8);
    expect(isTerminal("cancelled") && !isTerminal("preview") && !isTerminal("running")).toBe(true);
  });

  it("ignores an unknown type (a newer server) with a console warning, and what is not an event", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(parseEvent(JSON.stringify({ type: "paused", job_id: "j" }))).toBeNull();
    expect(warn).toHaveBeenCalledWith("job events: ignored a message that is not a known event; its type:", "paused");
    expect(parseEvent("not json")).toBeNull();
    expect(parseEvent(JSON.stringify({ type: "queued" }))).toBeNull(); // no job_id
  });
});

describe("UserJobStream", () => {
  function listener(log: string[], name: string): JobsListener {
    return {
      onEvent: (e) => log.push(`${name} ${e.job_id} ${e.type}${"step" in e ? e.step : ""}`),
      onOpen: (reconnected) => log.push(`${name} open${reconnected ? " again" : ""}`),
    };
  }

  it("shares one socket between listeners, told of the stream already open", async () => {
    const f = fakeConnection();
    const stream = new UserJobStream({ url: "ws://127.0.0.1/jobs/events", ...f.connection }, 50);
    const log: string[] = [];
    const leaveQueue = stream.subscribe(listener(log, "queue"));
    await tick();
    f.sockets[0]!.open();
    f.sockets[0]!.send({ type: "queued", job_id: "a", at: 1, total: 4 });
    const leaveJob = stream.subscribe(listener(log, "job"));
    f.sockets[0]!.send({ type: "started", job_id: "b", at: 2, total: 4, attempt: 1 });
    expect(f.sockets).toHaveLength(1);
    expect(f.sockets[0]!.url).toBe("ws://127.0.0.1/jobs/events");
    expect(log).toEqual(["queue open", "queue a queued", "job open", "queue b started", "job b started"]);
    leaveQueue();
    leaveJob();
    expect(f.sockets[0]!.closed).toBe(false); // lingers for the next screen
    const back = stream.subscribe(listener(log, "back"));
    await new Promise((r) => setTimeout(r, 80));
    expect(f.sockets[0]!.closed).toBe(false);
    expect(f.sockets).toHaveLength(1);
    back();
    await new Promise((r) => setTimeout(r, 80));
    expect(f.sockets[0]!.closed).toBe(true);
  });

  it("reconnects with backoff, says so (re-list), and skips the replayed events", async () => {
    const f = fakeConnection();
    const stream = new UserJobStream({ url: "ws://127.0.0.1/jobs/events", ...f.connection });
    const log: string[] = [];
    stream.subscribe(listener(log, "q"));
    await tick();
    const first = f.sockets[0]!;
    first.open();
    first.send({ type: "queued", job_id: "a", at: 1, total: 4 });
    first.send({ type: "progress", job_id: "a", at: 2, step: 1, total: 4, attempt: 1 });
    first.send({ type: "queued", job_id: "b", at: 3, total: 4 });
    first.drop(1006);
    await tick();
    await tick();
    const second = f.sockets[1]!;
    second.drop(1011);
    await tick();
    await tick();
    expect(f.delays).toEqual([10, 20]);
    const third = f.sockets[2]!;
    third.open();
    // Replayed from the start: job a (b ended while the socket was down, so the server skips it).
    third.send({ type: "queued", job_id: "a", at: 1, total: 4 });
    third.send({ type: "progress", job_id: "a", at: 2, step: 1, total: 4, attempt: 1 });
    third.send({ type: "progress", job_id: "a", at: 5, step: 2, total: 4, attempt: 1 });
    third.send({ type: "succeeded", job_id: "a", at: 6, image_id: "img", seed: 1, attempt: 1 });
    third.send({ type: "succeeded", job_id: "a", at: 6, image_id: "img", seed: 1, attempt: 1 });
    expect(log).toEqual(["q open", "q a queued", "q a progress1", "q b queued", "q open again", "q a progress2", "q a succeeded"]);
    expect(f.sockets).toHaveLength(3);
  });

  it("gives up on a refusal and tries afresh for the next listener; closes on sign-out", async () => {
    const f = fakeConnection();
    const stream = new UserJobStream({ url: "ws://127.0.0.1/jobs/events", ...f.connection });
    const states: string[] = [];
    const leave = stream.subscribe({ onEvent: () => {}, onState: (s, d) => states.push(d ? `${s}:${d}` : s) });
    await tick();
    f.sockets[0]!.drop(4429);
    await tick();
    expect(states).toEqual(["connecting", "failed:too many live views open; close another tab"]);
    leave();
    stream.subscribe({ onEvent: () => {} });
    await tick();
    expect(f.sockets).toHaveLength(2);
    f.sockets[1]!.open();
    stream.close();
    expect(f.sockets[1]!.closed).toBe(true);
  });
});
