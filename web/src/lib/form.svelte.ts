/** Busy flag, per-field errors and a summary for one form; values stay as typed on error. */

import { tick } from "svelte";
import { ApiError, toApiError } from "./errors";

/** Field name -> message for what is wrong before anything is sent (empty: nothing). */
export type Checks = () => Record<string, string>;

export class FormState {
  busy = $state(false);
  errors = $state<Record<string, string>>({});
  summary = $state("");
  done = $state("");

  constructor(private readonly fields: readonly string[] = []) {}

  /**
   * Run `action`; an ApiError lands next to its field (or in the summary). Returns the result or
   * undefined. `checks` run first: every rule the browser can judge is shown at once, nothing sent.
   * Afterwards focus goes to the first marked field (or back where it was: the busy button lost it).
   */
  async run<T>(action: () => Promise<T>, success = "", checks?: Checks): Promise<T | undefined> {
    const before = typeof document === "undefined" ? null : document.activeElement;
    const scope = before instanceof HTMLElement ? before.closest("form") : null;
    this.errors = {};
    this.summary = "";
    this.done = "";
    const found = checks?.() ?? {};
    if (Object.keys(found).length) {
      this.errors = found;
      this.summary = "Please correct the marked fields.";
      await this.refocus(scope, before);
      return undefined;
    }
    this.busy = true;
    try {
      const result = await action();
      this.done = success;
      return result;
    } catch (error) {
      const e = error instanceof ApiError ? error : toApiError(0, {});
      this.errors = Object.fromEntries(Object.entries(e.fields).filter(([k]) => this.fields.includes(k)));
      this.summary = e.summary(this.fields);
      this.busy = false;
      await this.refocus(scope, before);
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  private async refocus(scope: HTMLElement | null, before: Element | null): Promise<void> {
    if (typeof document === "undefined") return;
    await tick();
    const root = scope && scope.isConnected ? scope : document;
    const invalid = root.querySelector<HTMLElement>('[aria-invalid="true"]');
    if (invalid) invalid.focus();
    else if (before instanceof HTMLElement && before.isConnected && document.activeElement === document.body) before.focus();
  }
}
