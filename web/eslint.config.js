// ESLint (flat config): JavaScript's and typescript-eslint's recommended rules, eslint-plugin-svelte's
// for components (their <script lang="ts"> parsed by typescript-eslint). Run by scripts/lint (npm run lint).
import js from "@eslint/js";
import svelte from "eslint-plugin-svelte";
import globals from "globals";
import ts from "typescript-eslint";
import svelteConfig from "./svelte.config.js";

export default ts.config(
  { ignores: ["dist/", "node_modules/", "src/lib/api-schema.d.ts", "src/lib/job-events.d.ts"] },
  js.configs.recommended,
  ...ts.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, __HAS_PRESETS__: "readonly", __SERVICES__: "readonly" } },
    rules: {
      // Loose shapes from the API (the schema says additionalProperties) are read as `any` on purpose.
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["**/*.svelte", "**/*.svelte.ts"],
    languageOptions: { parserOptions: { projectService: true, extraFileExtensions: [".svelte"], parser: ts.parser, svelteConfig } },
  },
  { files: ["public/sw.js"], languageOptions: { globals: { ...globals.serviceworker } } },
  { files: ["vite.config.ts", "eslint.config.js", "svelte.config.js"], languageOptions: { globals: { ...globals.node } } },
);
