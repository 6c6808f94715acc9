/** Hash routing (#/create, #/images/<id>, ...): every screen is served by the one index.html at `/`. */

export interface Route {
  path: string;
  params: URLSearchParams;
  parts: string[];
}

function parse(): Route {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path = "/", query = ""] = raw.split("?");
  return { path, params: new URLSearchParams(query), parts: path.split("/").filter(Boolean) };
}

export const route = $state<{ current: Route }>({ current: parse() });

addEventListener("hashchange", () => {
  route.current = parse();
});

export function go(path: string): void {
  location.hash = `#${path}`;
}
