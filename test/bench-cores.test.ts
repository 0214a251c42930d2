// The bench's core-speed probe (bench/cores.ts): what it measures and when it flags a run.
import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  type CoreProbe,
  UNEQUAL_BELOW,
  coreSpeedLines,
  probeCores,
  slowestCore,
} from '../bench/cores.js';

describe('bench core-speed probe', () => {
  it.runIf(process.platform === 'linux')(
    'measures every core, relative to the fastest',
    async () => {
      const p = await probeCores('test', 150);
      expect(p.note).toBeUndefined();
      expect(p.relative).toHaveLength(cpus().length);
      expect(Math.max(...p.relative!)).toBe(1);
      for (const r of p.relative!) expect(r).toBeGreaterThan(0);
    },
  );

  it('flags a run only when a core fell below the threshold', () => {
    const equal: CoreProbe[] = [
      { at: 'start', relative: [1, 0.97] },
      { at: 'after W1', relative: [0.95, 1] },
    ];
    expect(slowestCore(equal)).toBe(0.95);
    expect(coreSpeedLines(equal).join('\n')).not.toContain('Unequal cores');
    const slowed: CoreProbe[] = [...equal, { at: 'after W2', relative: [1, UNEQUAL_BELOW - 0.35] }];
    const text = coreSpeedLines(slowed).join('\n');
    expect(text).toContain('after W2 100 % / 55 %');
    expect(text).toContain('**Unequal cores:** a core ran at 55 % of the fastest');
  });

  it('says why a probe did not run, and flags nothing from it', () => {
    const none: CoreProbe[] = [{ at: 'start', relative: null, note: 'not Linux (no taskset)' }];
    expect(slowestCore(none)).toBeNull();
    expect(coreSpeedLines(none)).toEqual([
      'Core speeds (every core busy at once, one pinned scalar process each, relative to the fastest): start: not probed (not Linux (no taskset)).',
    ]);
  });
});
