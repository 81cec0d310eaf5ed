/**
 * Main-process code the renderer shares (the bridge contract, the topic-pattern rules),
 * imported by name rather than by climbing out of src-renderer. The renderer build
 * (electron.vite.config.ts) and vitest read this map, kept in build/ with the other build inputs; tsconfig.web.json's `paths` say the
 * same for the type checker (the architecture test holds the two together).
 */
import { fileURLToPath } from 'node:url';

export const SHARED_ALIASES = {
  '@contract': fileURLToPath(new URL('../src-main/contract', import.meta.url)),
  '@match': fileURLToPath(new URL('../src-main/match', import.meta.url)),
};
