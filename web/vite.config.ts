import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { readFileSync } from "node:fs";

// Routes that not every API version has: the app asks for them only when the schema it was built
// against lists them (so an older API sees no 404s in the console).
// The same document the types come from (scripts/bootstrap points OPENAPI_JSON at the live one).
type Schema = { paths: Record<string, unknown>; components: { schemas: Record<string, any> } };
const schemaFile = process.env.OPENAPI_JSON ?? "openapi.json";
const schema = JSON.parse(readFileSync(new URL(`./${schemaFile}`, import.meta.url), "utf8")) as Schema;
// The per-service access rights an admin can grant: the enum of AdminUserPatch.services.
const servicesProp = schema.components.schemas.AdminUserPatch?.properties?.services;
const services: string[] = (servicesProp?.oneOf ?? [servicesProp]).find((s: any) => s?.items?.enum)?.items?.enum ?? [];

// The API (housify standalone) serves the built app; `npm run dev` proxies the API to it.
const api = process.env.HOUSIFY_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [svelte()],
  // Component tests (vitest, jsdom) mount Svelte's browser build, not its server one.
  ...(process.env.VITEST ? { resolve: { conditions: ["browser"] } } : {}),
  define: { __HAS_PRESETS__: JSON.stringify("/presets" in schema.paths), __SERVICES__: JSON.stringify(services) },
  build: {
    target: "es2022",
    modulePreload: { polyfill: false },
    cssCodeSplit: true,
    sourcemap: false,
  },
  server: {
    proxy: Object.fromEntries(
      ["/auth", "/users", "/admin", "/images", "/jobs", "/gallery", "/prompts", "/subscriptions", "/presets"].map((p) => [
        p,
        { target: api, ws: p === "/jobs" },
      ]),
    ),
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
  },
});
