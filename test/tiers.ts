// Test tiers: `npm test` runs the PR tier; `npm run test:stress` sets TORCHLET_STRESS=1 for the
// release tier (more property runs, more trials). fast-check failures print `seed` and `path`;
// replay one with FC_SEED=<seed> FC_PATH=<path> npx vitest run test/<file>.
import type { Parameters } from 'fast-check';

/** True under `npm run test:stress`. */
export const STRESS = process.env.TORCHLET_STRESS === '1';

/** `pr` in `npm test`, `stress` in `npm run test:stress`. */
export function tier<T>(pr: T, stress: T): T {
  return STRESS ? stress : pr;
}

/** fast-check parameters: the tier's run count, or the replayed seed/path from the environment. */
export function fcParams(pr: number, stress: number): Parameters<unknown> {
  const params: Parameters<unknown> = { numRuns: tier(pr, stress) };
  if (process.env.FC_SEED !== undefined) params.seed = Number(process.env.FC_SEED);
  if (process.env.FC_PATH !== undefined) params.path = process.env.FC_PATH;
  return params;
}

/** Per-test timeout: generous under stress, where counts are 100x. */
export const TIMEOUT = tier(60_000, 1_200_000);

/** Command sequences of the stateful fuzzer (test/fuzz.test.ts). */
export const FUZZ_SEQUENCES = { pr: 10_000, stress: 1_000_000 } as const;
