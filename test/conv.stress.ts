// Release tier only (`npm run test:stress`; vitest.config.ts includes *.stress.ts under
// TORCHLET_STRESS=1): issue 12's two real Conv1D reproductions, whose backwards need more than
// 2^31 floats of workspace or 4 GiB of memory. Each forward is ~2e9 multiply-adds (seconds).
// test/conv.test.ts checks the same refusal in npm test with a mocked workspace length.
import { expect, it } from 'vitest';
import { Conv1D, Rng, Tensor, init, memory } from '../ts/index.js';
import { expectError, randTensor, stateHash } from './helpers.js';

await init();

it('Conv1D(46349, 1, 1) and Conv1D(40001, 1, 1): the backward throws OUT_OF_MEMORY before anything changes', () => {
  for (const [kSize, length] of [
    [46349, 92698], // out_w·taps = 2^31 + 648102: the i32 length came back negative
    [40001, 80002], // 6.4 GB: OUT_OF_MEMORY, formerly after the gradients changed
  ] as const) {
    const c = new Conv1D(kSize, 1, 1, 1, { rng: new Rng(1) });
    const x = Tensor.zeros([1, length, 1]);
    const y = c.forward(x);
    const d = randTensor([...y.shape], 2);
    const canary = randTensor([257], 9);
    const values = canary.toArray();
    const hash = stateHash(c);
    const before = memory();
    expectError(() => c.backward(d), 'OUT_OF_MEMORY', /^Conv1D\.backward: expected /);
    expect(memory()).toEqual(before);
    expect(stateHash(c)).toBe(hash);
    expect(canary.toArray()).toEqual(values);
    c.dispose();
    x.dispose();
    d.dispose();
  }
}, 600_000);
