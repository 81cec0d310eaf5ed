import { defineConfig } from 'vitest/config';

// `npm run bench`: the performance benchmark (test/bench); not part of the tests.
export default defineConfig({
  test: {
    include: ['test/bench/bench.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
    silent: false,
  },
});
