import { defineConfig } from 'vitest/config';
import { SHARED_ALIASES } from './build/aliases';

export default defineConfig({
  // Renderer unit tests import the contract as the renderer does.
  resolve: { alias: SHARED_ALIASES },
  test: {
    include: ['src-main/**/*.test.ts', 'src-renderer/src/**/*.test.ts', 'test/**/*.test.ts'],
    // Headless runs make a default key: in a temporary config folder per test file.
    setupFiles: ['test/harness/config-dir.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real nats-server processes and receivers; two cores here.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
