import { defineConfig } from 'vitest/config';

// `npm run test:stress` (TORCHLET_STRESS=1) adds the release-tier files, test/*.stress.ts: tests
// too slow for every run, not skipped ones.
const stress = process.env.TORCHLET_STRESS === '1';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', ...(stress ? ['test/**/*.stress.ts'] : [])],
    testTimeout: 60_000,
  },
});
