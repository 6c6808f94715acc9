import { afterEach, describe, expect, it, vi } from "vitest";
import { loadTasks, planGate, resetTasks, tasks, tasksOf } from "./tasks.svelte";

function serve(body: unknown, status = 200) {
  vi.stubGlobal("fetch", async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));
}

const task = (name: string, levels?: string[], available = true) => ({
  name,
  available,
  state: available ? "offered" : "not_offered",
  workers: available ? 1 : 0,
  ...(levels ? { levels } : {}),
});

describe("tasks: what the server runs and which plans include it (GET /tasks)", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    resetTasks();
  });

  it("names the cheapest plan that has a task the user's plan lacks", async () => {
    serve({ workers: 1, tasks: [task("text2img", ["Free-Tier", "Pro-Tier"]), task("upscale", ["Pro-Tier", "Studio"])] });
    await loadTasks();
    expect(planGate("upscale", "Free-Tier")).toEqual({ plan: "Pro", reason: "Enlarge is in the Pro-Tier plan; you are on Free-Tier." });
    expect(planGate("upscale", "Pro-Tier")).toBeNull();
    expect(planGate("upscale", "Studio")).toBeNull();
    expect(planGate("text2img", "Free-Tier")).toBeNull();
    expect(tasksOf("Free-Tier")).toEqual(["Create"]);
    expect(tasksOf("Pro-Tier")).toEqual(["Create", "Enlarge"]);
  });

  it("says so when no plan has it, and gates nothing while the user or the levels are unknown", async () => {
    serve({ workers: 0, tasks: [task("redesign", []), task("inpaint")] });
    await loadTasks();
    expect(planGate("redesign", "Pro-Tier")).toEqual({ plan: "", reason: "Redesign is not in any plan right now." });
    expect(planGate("redesign", null)).toBeNull(); // not signed in: nothing to compare
    expect(planGate("inpaint", "Free-Tier")).toBeNull(); // an older API: no levels, nothing gated
    expect(tasks.levels).toEqual({ redesign: [] });
  });

  it("keeps everything on when the route fails (an older API)", async () => {
    serve({ detail: "not found" }, 404);
    await loadTasks();
    expect(tasks.off).toEqual({});
    expect(planGate("upscale", "Free-Tier")).toBeNull();
  });
});
