/** Who is signed in (the profile from GET /users/me), kept in step with the token store. */

import { api, call, tokens, type User } from "./api";
import { resetDrafts } from "./draft.svelte";

export const session = $state<{ user: User | null; ready: boolean }>({ user: null, ready: false });

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
  if (tokens.maybeSignedIn) await tokens.refresh();
  await loadUser();
  session.ready = true;
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
