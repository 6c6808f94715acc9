import { describe, expect, it } from "vitest";
import { followJob, type JobEvent, type SocketLike, type StreamState } from "./events";

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
  send(event: Omit<JobEvent, "job_id">) {
    this.onmessage?.({ data: JSON.stringify({ job_id: "j1", ...event }) } as MessageEvent);
  }
  drop(code = 1006) {
    this.onclose?.({ code } as CloseEvent);
  }
  close() {
    this.closed = true;
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function harness(token = "tok") {
  const sockets: FakeSocket[] = [];
  const events: JobEvent[] = [];
  const states: string[] = [];
  const delays: number[] = [];
  const stop = followJob({
    url: "ws://127.0.0.1/jobs/j1/events",
    token: async () => token,
    onEvent: (e) => events.push(e),
    onState: (s: StreamState, d?: string) => states.push(d ? `${s}:${d}` : s),
    open: (url, protocols) => {
      const s = new FakeSocket(url, protocols);
      sockets.push(s);
      return s;
    },
    backoff: [10, 20],
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
  return { sockets, events, states, delays, stop };
}

describe("followJob", () => {
  it("sends the token as the bearer subprotocol pair", async () => {
    const h = harness();
    await tick();
    expect(h.sockets[0]!.protocols).toEqual(["bearer", "tok"]);
  });

  it("reconnects after a drop and skips the replayed events", async () => {
    const h = harness();
    await tick();
    const first = h.sockets[0]!;
    first.open();
    first.send({ type: "queued", at: 1 });
    first.send({ type: "progress", step: 1, total: 4, at: 2 });
    first.drop(1006);
    await tick();
    await tick();
    expect(h.sockets).toHaveLength(2);
    expect(h.delays).toEqual([10]);
    const second = h.sockets[1]!;
    second.open();
    // The server replays everything from the start, then goes on.
    second.send({ type: "queued", at: 1 });
    second.send({ type: "progress", step: 1, total: 4, at: 2 });
    second.send({ type: "progress", step: 2, total: 4, at: 3 });
    second.send({ type: "succeeded", at: 4, image_id: "img" });
    second.drop(1000);
    expect(h.events.map((e) => `${e.type}${e.step ?? ""}`)).toEqual(["queued", "progress1", "progress2", "succeeded"]);
    expect(h.states).toContain("reconnecting");
    expect(h.states.at(-1)).toBe("ended");
  });

  it("backs off longer on repeated drops and gives up on a refusal", async () => {
    const h = harness();
    await tick();
    h.sockets[0]!.drop(1006);
    await tick();
    await tick();
    h.sockets[1]!.drop(1011);
    await tick();
    await tick();
    expect(h.delays).toEqual([10, 20]);
    h.sockets[2]!.drop(4403);
    await tick();
    expect(h.sockets).toHaveLength(3);
    expect(h.states.at(-1)).toBe("failed:this job is not yours");
  });

  it("stops when the page leaves", async () => {
    const h = harness();
    await tick();
    h.stop();
    expect(h.sockets[0]!.closed).toBe(true);
    h.sockets[0]!.drop(1006);
    await tick();
    expect(h.sockets).toHaveLength(1);
  });
});
