import { describe, expect, it } from "vitest";
import { batchSiblings, optionalInt } from "./jobs";

describe("batchSiblings", () => {
  it("numbers a batch's jobs in the API's order and marks the current one", () => {
    expect(batchSiblings({ id: "b", batch: ["a", "b", "c"] })).toEqual([
      { id: "a", number: 1, current: false },
      { id: "b", number: 2, current: true },
      { id: "c", number: 3, current: false },
    ]);
  });

  it("is empty for a single job (no batch, or a batch of one)", () => {
    expect(batchSiblings({ id: "a", batch: null })).toEqual([]);
    expect(batchSiblings({ id: "a" })).toEqual([]);
    expect(batchSiblings({ id: "a", batch: ["a"] })).toEqual([]);
  });
});

describe("optionalInt", () => {
  it("reads empty as unset and rejects fractions", () => {
    expect(optionalInt("")).toBeNull();
    expect(optionalInt("42")).toBe(42);
    expect(optionalInt("4.5")).toBeNaN();
  });
});
