// Shared test helpers: seeded tensors and a hash of a module's parameters and gradients, to
// prove that a throw changed nothing.
import { createHash } from 'node:crypto';
import { type GradCheckResult, type Module, Rng, Tensor } from '../ts/index.js';

/** A tensor of uniform values in [-scale, scale), kept at least `gap` away from 0 (ReLU's kink). */
export function randTensor(shape: number[], seed: number, scale = 1, gap = 0): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(
    Float32Array.from({ length: n }, () => {
      const v = rng.uniform(-scale, scale);
      return Math.abs(v) < gap ? v + Math.sign(v || 1) * gap : v;
    }),
    shape,
  );
}

/** SHA-256 of every parameter value and gradient, in order. */
export function stateHash(m: Module): string {
  const h = createHash('sha256');
  for (const p of m.parameters()) {
    h.update(p.name);
    h.update(new Uint8Array(p.value.toArray().buffer));
    h.update(new Uint8Array(p.grad.toArray().buffer));
  }
  return h.digest('hex');
}

/** Fails with the gradCheck failures listed. */
export function expectGradOk(r: GradCheckResult): void {
  if (!r.ok) throw new Error(`gradCheck failed:\n${r.failures.join('\n')}`);
}

/** Runs `f`, expects a TorchletError with `code` and a message matching `re`. */
export function expectError(f: () => unknown, code: string, re: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof Error)) throw new Error(`expected a ${code} error, got none`);
  const e = caught as Error & { code?: string };
  if (e.code !== code || !re.test(e.message)) {
    throw new Error(`expected ${code} matching ${re}, got ${e.code}: ${e.message}`);
  }
}
