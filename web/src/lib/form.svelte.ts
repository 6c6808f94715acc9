/** Busy flag, per-field errors and a summary for one form; values stay as typed on error. */

import { ApiError, toApiError } from "./errors";

export class FormState {
  busy = $state(false);
  errors = $state<Record<string, string>>({});
  summary = $state("");
  done = $state("");

  constructor(private readonly fields: readonly string[] = []) {}

  /** Run `action`; an ApiError lands next to its field (or in the summary). Returns the result or undefined. */
  async run<T>(action: () => Promise<T>, success = ""): Promise<T | undefined> {
    this.busy = true;
    this.errors = {};
    this.summary = "";
    this.done = "";
    try {
      const result = await action();
      this.done = success;
      return result;
    } catch (error) {
      const e = error instanceof ApiError ? error : toApiError(0, {});
      this.errors = Object.fromEntries(Object.entries(e.fields).filter(([k]) => this.fields.includes(k)));
      this.summary = e.summary(this.fields);
      return undefined;
    } finally {
      this.busy = false;
    }
  }
}
