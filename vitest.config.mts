import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src-main/**/*.test.ts', 'src-renderer/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real nats-server processes and receivers; two cores here.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
