import { fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import { draft, resetDrafts } from "../lib/draft.svelte";
import Create from "./Create.svelte";

/** The API as the screen sees it: the assistant rewrites, POST /jobs records what was sent. */
function fakeApi() {
  const sent: Record<string, unknown>[] = [];
  vi.stubGlobal("fetch", async (request: Request) => {
    const path = new URL(request.url).pathname;
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (path === "/prompts/assist") return json({ prompt: "ASSISTANT: japandi attic, oak beams", negative_prompt: "clutter", notes: "" });
    if (path === "/jobs") {
      sent.push(await request.json());
      return json({ detail: "stop here" }, 503);
    }
    return json({ detail: "not found" }, 404);
  });
  return sent;
}

describe("Create: the assistant can be undone and never names the picture", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    resetDrafts();
  });

  it("restores what the user wrote in one click, and titles the picture with the user's words", async () => {
    const sent = fakeApi();
    render(Create);
    const prompt = screen.getByLabelText("Describe a room or facade") as HTMLTextAreaElement;
    await fireEvent.input(prompt, { target: { value: "a cozy attic bedroom" } });
    await fireEvent.click(screen.getByRole("button", { name: "Improve with the assistant" }));
    await vi.waitFor(() => expect(prompt.value).toBe("ASSISTANT: japandi attic, oak beams"));
    await fireEvent.click(screen.getByRole("button", { name: "Restore what I wrote" }));
    expect(prompt.value).toBe("a cozy attic bedroom");
    expect(draft.create.negative_prompt).toBe("");
    expect(screen.queryByRole("button", { name: "Restore what I wrote" })).toBeNull();

    await fireEvent.click(screen.getByRole("button", { name: "Improve with the assistant" }));
    await vi.waitFor(() => expect(prompt.value).toMatch(/^ASSISTANT/));
    await fireEvent.click(screen.getByRole("button", { name: "Generate" }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ prompt: "ASSISTANT: japandi attic, oak beams", title: "a cozy attic bedroom" });
  });
});
