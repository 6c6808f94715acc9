import { describe, expect, it } from "vitest";
import { clipEstimate } from "./clip";
import { limits, quotaText } from "./limits.svelte";
import { applyRecipe, isPhotoTask, recipeRows } from "./recipe";
import { emailProblem, jobProblems, problems, required } from "./validate";

describe("what the browser checks before sending", () => {
  it("reports every broken job number at once, in words", () => {
    const found = jobProblems({ width: 500, height: 2000, steps: 0, seed: "-3", guidance: 31 });
    expect(Object.keys(found).sort()).toEqual(["guidance_scale", "height", "seed", "steps", "width"]);
    expect(found.width).toBe("The width must be a multiple of 8 between 64 and 1024.");
    expect(Object.values(found).join(" ")).not.toMatch(/Expected|`/);
    expect(jobProblems({ width: 512, height: 64, steps: 20, seed: "", guidance: 7.5 })).toEqual({});
    expect(jobProblems({ steps: 20, seed: "4294967296", guidance: 0 }).seed).toMatch(/0 to 4294967295/);
  });

  it("checks the e-mail like the API's pattern and keeps only real problems", () => {
    expect(emailProblem("")).toMatch(/Enter/);
    expect(emailProblem("ann@example")).toMatch(/not a valid e-mail/);
    expect(emailProblem("ann@example.com")).toBeNull();
    expect(problems({ email: emailProblem("x"), password: required("", "a password") })).toEqual({
      email: expect.stringMatching(/not a valid/),
      password: "Enter a password.",
    });
  });
});

describe("CLIP's 77 tokens", () => {
  it("says nothing for a short prompt and where a long one is cut", () => {
    expect(clipEstimate("a calm nordic bedroom, linen, morning light")).toEqual({ tokens: 9, cutAt: null });
    const words = Array.from({ length: 90 }, (_, i) => `word${i % 10}`).join(" ");
    const { tokens, cutAt } = clipEstimate(words);
    expect(tokens).toBeGreaterThan(75);
    expect(cutAt).not.toBeNull();
    expect(words.slice(0, cutAt!).split(" ").length).toBeLessThan(words.split(" ").length);
  });
});

describe("recall", () => {
  const params = {
    prompt: "a cozy loft",
    negative_prompt: "blurry",
    room_type: "bedroom",
    style: "japandi",
    seed: 42,
    steps: 12,
    width: 512,
    height: 384,
    guidance_scale: 6.5,
    title: "loft",
  };
  const draft = () => ({
    prompt: "old",
    negative_prompt: "",
    notes: "n",
    wish: "w",
    wishNegative: "",
    room: "",
    style: "",
    width: 64,
    height: 64,
    steps: 20,
    seed: "",
    guidance: 7.5,
    title: "old title",
    public: false,
    count: 3,
  });

  it("puts every setting back, the seed included, and leaves the title to the new picture", () => {
    const d = draft();
    applyRecipe("text2img", params, d);
    expect(d).toMatchObject({
      prompt: "a cozy loft",
      negative_prompt: "blurry",
      room: "bedroom",
      style: "japandi",
      seed: "42",
      steps: 12,
      width: 512,
      height: 384,
      guidance: 6.5,
      title: "",
      count: 1,
      wish: null,
    });
  });

  it("same seed, new prompt: the description is emptied, the rest kept", () => {
    const d = draft();
    applyRecipe("text2img", params, d, true);
    expect(d.prompt).toBe("");
    expect(d.seed).toBe("42");
    expect(d.style).toBe("japandi");
  });

  it("a photo task recalls its mode and strength; the rows name what was used", () => {
    const d = { ...draft(), strength: 0.6, mode: "img2img" as const, restyle: "room" as const };
    applyRecipe("inpaint", { ...params, strength: 0.35 }, d);
    expect(d.mode).toBe("inpaint");
    expect(d.strength).toBe(0.35);
    expect(isPhotoTask("redesign") && !isPhotoTask("text2img")).toBe(true);
    const rows = Object.fromEntries(recipeRows("text2img", params));
    expect(rows).toMatchObject({ Prompt: "a cozy loft", Seed: "42", Size: "512×384 px", Guidance: "6.5", Style: "japandi" });
  });
});

describe("the hour's count", () => {
  it("says how many are left and when the next one frees", () => {
    Object.assign(limits, { limit: 6, remaining: 2, resetAt: 1_000_000 + 20 * 60_000 });
    expect(quotaText(1_000_000)).toBe("2 of 6 pictures left this hour; the next frees in 20 min");
    Object.assign(limits, { remaining: 6 });
    expect(quotaText(1_000_000)).toBe("6 of 6 pictures left this hour");
  });
});
