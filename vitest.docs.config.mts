import { defineConfig } from 'vitest/config';

// `npm run screenshot`: regenerates the README's documentation image; not part of the tests.
export default defineConfig({
  test: {
    include: ['test/docs/*.docs.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
