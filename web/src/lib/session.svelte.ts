/** Who is signed in (the profile from GET /users/me), kept in step with the token store. */

import { api, call, tokens, type User } from "./api";
import { resetDrafts } from "./draft.svelte";

/** `offline`: a session may exist (the hint is set) but the refresh could not reach the server. */
export const session = $state<{ user: User | null; ready: boolean; offline: boolean }>({ user: null, ready: false, offline: false });

export async function loadUser(): Promise<void> {
  if (!tokens.token) {
    session.user = null;
    return;
  }
  try {
    session.user = await call(api.GET("/users/me"));
  } catch {
    session.user = null;
  }
}

/** On start: restore the session from the refresh cookie when one may exist. */
export async function restore(): Promise<void> {
  // A refresh the server refused clears the hint; one that never reached it (offline) keeps it.
  const refreshed = tokens.maybeSignedIn ? await tokens.refresh() : true;
  session.offline = !refreshed && tokens.maybeSignedIn;
  await loadUser();
  session.ready = true;
}

/** Back online after an offline start: restore the session then. */
if (typeof addEventListener !== "undefined") {
  addEventListener("online", () => {
    if (session.offline) void restore();
  });
}

export async function login(email: string, password: string): Promise<void> {
  await tokens.login(email, password);
  await loadUser();
}

export async function logout(everywhere: boolean): Promise<void> {
  try {
    await call(api.POST(everywhere ? "/auth/logout-all" : "/auth/logout"));
  } finally {
    tokens.clear();
    session.user = null;
    resetDrafts();
  }
}

tokens.subscribe((token) => {
  if (!token) session.user = null;
});
