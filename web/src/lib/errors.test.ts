import { describe, expect, it } from "vitest";
import { toApiError } from "./errors";

describe("toApiError", () => {
  it("puts a `field: rule` detail next to its field", () => {
    const e = toApiError(400, { status_code: 400, detail: "width: Expected int that is a multiple of 8" });
    expect(e.fields).toEqual({ width: "Expected int that is a multiple of 8" });
    expect(e.summary(["width"])).toBe("Please correct the marked fields.");
  });

  it("says when to retry a 429 once, and what is down on a 503", () => {
    const headers = new Headers({ "Retry-After": "3599" });
    const e = toApiError(429, { detail: "your level (Free-Tier) allows 6 jobs per hour; try again in 3599 s" }, headers);
    expect(e.retryAfter).toBe(3599);
    expect(e.summary()).toBe("Too many requests: your level (Free-Tier) allows 6 jobs per hour. Try again in 60 min.");
    expect(toApiError(503, { detail: "prompt assistant unavailable" }).summary()).toBe(
      "Temporarily unavailable: prompt assistant unavailable",
    );
    expect(toApiError(0, {}).summary()).toMatch(/nothing you typed was lost/);
  });
});
