import { describe, expect, it } from "vitest";
import { TokenStore } from "./tokens";

const BASE = "http://127.0.0.1:8000";

function memory() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
}

/** A fake /auth/token + one protected route: tokens "t1", "t2", ... ; only the newest is accepted. */
function server() {
  let issued = 0;
  const calls: string[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === "/auth/token") {
      const body = new URLSearchParams(await request.text());
      calls.push(`token:${body.get("grant_type")}:${request.headers.get("x-refresh-cookie")}:${request.credentials}`);
      await new Promise((r) => setTimeout(r, 5));
      issued++;
      return Response.json({
        access_token: `t${issued}`,
        expires_in: 300,
        refresh_token: "",
        refresh_expires_in: 600,
        token_type: "Bearer",
      });
    }
    const auth = request.headers.get("authorization");
    calls.push(`${request.method} ${url.pathname} ${auth}`);
    return auth === `Bearer t${issued}` ? Response.json({ ok: true }) : Response.json({ detail: "expired" }, { status: 401 });
  };
  return { fetch, calls, expire: () => issued++ };
}

describe("TokenStore", () => {
  it("logs in in cookie mode and keeps the access token in memory only", async () => {
    const s = server();
    const hint = memory();
    const store = new TokenStore(s.fetch, hint, BASE);
    await store.login("ann@example.com", "pw");
    expect(store.token).toBe("t1");
    expect(s.calls[0]).toBe("token:password:1:same-origin");
    expect(hint.getItem("housify.session")).toBe("1"); // a hint, not a secret
  });

  it("refreshes once for concurrent 401s and retries each request once", async () => {
    const s = server();
    const store = new TokenStore(s.fetch, memory(), BASE);
    await store.login("ann@example.com", "pw");
    s.expire(); // the server moves on: t1 is refused now
    const [a, b] = await Promise.all([
      store.fetch(new Request(`${BASE}/users/me`)),
      store.fetch(new Request(`${BASE}/images`, { method: "POST", body: "x" })),
    ]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(s.calls.filter((c) => c.startsWith("token:refresh_token"))).toHaveLength(1);
    expect(s.calls.filter((c) => c.endsWith("Bearer t3"))).toHaveLength(2); // both retried with the new token
  });

  it("refreshes ahead of expiry and forgets the session when refresh fails", async () => {
    let now = 1000;
    const s = server();
    const hint = memory();
    const store = new TokenStore(s.fetch, hint, BASE, () => now);
    await store.login("ann@example.com", "pw");
    now += 290; // 10 s left: under the leeway
    expect(await store.fresh()).toBe("t2");
    const refused = new TokenStore(async () => Response.json({ detail: "revoked" }, { status: 401 }), hint, BASE);
    expect(refused.maybeSignedIn).toBe(true);
    expect(await refused.refresh()).toBe(false);
    expect(refused.token).toBeNull();
    expect(hint.getItem("housify.session")).toBeNull();
  });

  it("does not try a refresh for a visitor who never signed in", async () => {
    const s = server();
    const store = new TokenStore(s.fetch, memory(), BASE);
    const response = await store.fetch(new Request(`${BASE}/users/me`));
    expect(response.status).toBe(401);
    expect(s.calls.some((c) => c.startsWith("token:"))).toBe(false);
  });
});
