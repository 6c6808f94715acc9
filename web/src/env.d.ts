/// <reference types="svelte" />
/// <reference types="vite/client" />
/** True when the API schema the app was built against has GET /presets (vite.config.ts). */
declare const __HAS_PRESETS__: boolean;
/** The access rights (AdminUserPatch.services enum) of the API schema the app was built against. */
declare const __SERVICES__: string[];
