// The stateful fuzzer (issue 12): random sequences of public calls (create layers and containers
// with shared and separate modules, forward with valid and invalid shapes and changing batches,
// the three backward verbs with the right and a stale input, zeroGrad, updates, Optim steps,
// dispose, tensor create/clone/dispose, memory growth, save/load, reading overwritten outputs),
// with canary tensors around everything. After every command: only TorchletErrors, canaries and
// user tensors intact, a throw changed nothing (parameters, gradients, optimiser state, RNGs,
// live bytes), results match a float64 reference (forward values; dx and parameter gradients
// against central differences); after every sequence live bytes are back at the baseline.
// Replay a failure with the line it prints:
// FC_SEED=<seed> FC_PATH=<path> FC_REPLAY_PATH=<replayPath> npx vitest run test/fuzz.test.ts
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { init } from '../ts/index.js';
import { runSequence, sequenceArbitrary } from './fuzz/commands.js';
import { stats } from './fuzz/world.js';
import { FUZZ_SEQUENCES, fcParams, tier } from './tiers.js';

await init();

/** Sequences this run: the tier's count, or FUZZ_RUNS. */
const RUNS = runsOverride().numRuns ?? tier(FUZZ_SEQUENCES.pr, FUZZ_SEQUENCES.stress);

/** Commands per sequence at most (after one to three creations). */
const MAX_COMMANDS = 20;

describe('stateful fuzzer', () => {
  it(
    `${RUNS} random command sequences keep the error contract, memory and numbers`,
    () => {
      const started = performance.now();
      try {
        fc.assert(
          fc.property(
            sequenceArbitrary(MAX_COMMANDS, process.env.FC_REPLAY_PATH),
            ([setup, cmds]) => runSequence(setup, cmds),
          ),
          { ...fcParams(FUZZ_SEQUENCES.pr, FUZZ_SEQUENCES.stress), ...runsOverride() },
        );
      } catch (e) {
        // fast-check's seed and path, and the commands' replayPath (fc.commands needs it too).
        const msg = String((e as Error).message);
        const m = /seed: (-?\d+), path: "([^"]*)"/.exec(msg);
        const rp = /replayPath="([^"]*)"/.exec(msg);
        const env = [
          process.env.TORCHLET_STRESS === '1' ? 'TORCHLET_STRESS=1' : '',
          process.env.FUZZ_RUNS ? `FUZZ_RUNS=${process.env.FUZZ_RUNS}` : '',
          m ? `FC_SEED=${m[1]} FC_PATH=${m[2]}` : '',
          rp ? `FC_REPLAY_PATH='${rp[1]}'` : '',
        ].filter(Boolean);
        const replay = m ? `\nReplay: ${env.join(' ')} npx vitest run test/fuzz.test.ts` : '';
        throw new Error(`${msg}${replay}`, { cause: e });
      } finally {
        const threw = Object.entries(stats.threw)
          .sort((a, b) => b[1] - a[1])
          .map(([code, n]) => `${code} ${n}`)
          .join(', ');
        console.log(
          `fuzz: ${stats.sequences} sequences, ${stats.commands} commands, ` +
            `${Object.values(stats.threw).reduce((a, b) => a + b, 0)} threw (${threw}), ` +
            `${stats.numericChecks} float64 comparisons, ${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
        if (process.env.FUZZ_DEBUG === '1') console.log(stats.outcomes);
      }
      expect(stats.sequences).toBeGreaterThan(0);
    },
    // About 1 ms a sequence on one core, with room for a loaded machine.
    Math.max(tier(60_000, 3_600_000), RUNS * 5),
  );
});

/** FUZZ_RUNS=<n> overrides the tier's count (a quick local run). */
function runsOverride(): { numRuns?: number } {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? { numRuns: n } : {};
}
