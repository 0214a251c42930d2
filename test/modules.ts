// The one table of layers the suites iterate (PyTorch's module_db): for every registered type a
// small seeded instance, a valid input shape and how to draw its values, plus variants (padding
// 'same', strides, overlapping windows, containers of several families). What the layer's own
// description says (parameter shapes, constructor arguments) is derived from it, not repeated.
// The table is a function of the torchlet build it is given (`import type` only), so the browser
// test bundles it and runs it against dist/ (test/browser/core-checks.ts).
import type * as Torchlet from '../ts/index.js';

type T = typeof Torchlet;

/**
 * How an entry's input values are drawn (seeded):
 * - `uniform`: in [-scale, scale), at least `gap` away from 0 (ReLU's kink);
 * - `distinct`: a shuffled ramp over [-1, 1), every gap >= 2/n, so max-pooling windows never tie;
 * - `unit`: in [0.05, 0.95), a reconstruction target for an autoencoder (BCE needs [0, 1]).
 */
export type Draw =
  { kind: 'uniform'; scale?: number; gap?: number } | { kind: 'distinct' } | { kind: 'unit' };

/** One table entry: a registered type, or a variant of one. */
export interface ModuleEntry {
  /** Unique key: the type, or `Type:variant` (no dots: tables split `name.method`). */
  readonly name: string;
  /** The registered type name (`MODULE_TYPES`), which `make` must build. */
  readonly type: string;
  /** What the variant exercises, or null for the type's base entry. */
  readonly variant: string | null;
  /** A small instance; `rng` draws its initial weights (and Dropout's masks). */
  make(rng: Torchlet.Rng): Torchlet.Module;
  /** A valid input shape, batch first. */
  readonly input: readonly number[];
  /** How to draw input values (default: uniform in [-1, 1)). */
  readonly draw: Draw;
  /** Element-wise: takes any shape [batch, ...] and keeps it (no shape to violate). */
  readonly elementwise: boolean;
  /** A view layer: the output is the input's memory seen with another shape (no copy, no slot). */
  readonly view: boolean;
  /** Its training-mode forward draws random numbers (Dropout, or a container holding one). */
  readonly stochastic: boolean;
}

type Options = Partial<Pick<ModuleEntry, 'draw' | 'elementwise' | 'view' | 'stochastic'>>;

/** Every entry, built against the torchlet build `tl`: one base entry per registered type first, then variants. */
export function moduleTable(tl: T): ModuleEntry[] {
  const entries: ModuleEntry[] = [];
  const add = (
    name: string,
    make: (rng: Torchlet.Rng) => Torchlet.Module,
    input: number[],
    options: Options = {},
  ): void => {
    const [type, variant] = name.split(':') as [string, string | undefined];
    entries.push({
      name,
      type,
      variant: variant ?? null,
      make,
      input,
      draw: options.draw ?? { kind: 'uniform' },
      elementwise: options.elementwise ?? false,
      view: options.view ?? false,
      stochastic: options.stochastic ?? false,
    });
  };
  const distinct: Options = { draw: { kind: 'distinct' } };

  // ---- base entries, one per registered type
  add('Linear', (rng) => new tl.Linear(4, 3, { rng }), [2, 4]);
  add('Conv1D', (rng) => new tl.Conv1D(3, 2, 4, 2, { rng }), [2, 7, 2]);
  add('Conv2D', (rng) => new tl.Conv2D(2, 3, 2, 3, 1, { rng }), [2, 4, 5, 2]);
  add('MaxPool1D', () => new tl.MaxPool1D(2), [2, 6, 3], distinct);
  add('MaxPool2D', () => new tl.MaxPool2D(2, 2), [2, 4, 4, 2], distinct);
  add('AvgPool1D', () => new tl.AvgPool1D(2), [2, 6, 3]);
  add('AvgPool2D', () => new tl.AvgPool2D(2, 2), [2, 4, 4, 2]);
  add('TanH', () => new tl.TanH(), [3, 5], {
    draw: { kind: 'uniform', scale: 2 },
    elementwise: true,
  });
  add('Sigmoid', () => new tl.Sigmoid(), [3, 5], {
    draw: { kind: 'uniform', scale: 3 },
    elementwise: true,
  });
  add('ReLU', () => new tl.ReLU(), [3, 5], {
    draw: { kind: 'uniform', scale: 2, gap: 0.01 },
    elementwise: true,
  });
  add('Softmax', () => new tl.Softmax(), [3, 7], { draw: { kind: 'uniform', scale: 2 } });
  add('Dropout', (rng) => new tl.Dropout(0.5, { rng }), [3, 6], {
    elementwise: true,
    stochastic: true,
  });
  add('Flatten', () => new tl.Flatten(), [2, 3, 4], { view: true });
  add('Reshape', () => new tl.Reshape(4, 3), [2, 3, 4], { view: true });
  add('Upsample1D', () => new tl.Upsample1D(2), [2, 3, 2]);
  add('Upsample2D', () => new tl.Upsample2D(2, 3), [2, 2, 3, 2]);
  add(
    'Sequential',
    (rng) =>
      new tl.Sequential(new tl.Linear(4, 5, { rng }), new tl.TanH(), new tl.Linear(5, 3, { rng })),
    [2, 4],
  );
  add(
    'AutoEncoder',
    (rng) =>
      new tl.AutoEncoder(
        new tl.Sequential(new tl.Linear(4, 2, { rng }), new tl.TanH()),
        new tl.Sequential(new tl.Linear(2, 4, { rng }), new tl.Sigmoid()),
      ),
    [2, 4],
    { draw: { kind: 'unit' } },
  );

  // ---- variants
  add('Conv1D:same', (rng) => new tl.Conv1D(3, 2, 3, 1, { rng, padding: 'same' }), [2, 5, 2]);
  // An even window pads unevenly (1 before, 2 after: PyTorch's rule).
  add('Conv1D:same-even', (rng) => new tl.Conv1D(4, 2, 2, 1, { rng, padding: 'same' }), [2, 5, 2]);
  add('Conv2D:strided', (rng) => new tl.Conv2D(3, 2, 2, 2, 2, { rng }), [2, 7, 6, 2]);
  add('Conv2D:same', (rng) => new tl.Conv2D(3, 2, 2, 3, 1, { rng, padding: 'same' }), [2, 4, 5, 2]);
  add('MaxPool1D:overlapping', () => new tl.MaxPool1D(3, 1), [2, 6, 2], distinct);
  add('MaxPool2D:overlapping', () => new tl.MaxPool2D(2, 3, 1), [2, 4, 5, 2], distinct);
  add('AvgPool1D:overlapping', () => new tl.AvgPool1D(3, 2), [2, 7, 2]);
  add('AvgPool2D:overlapping', () => new tl.AvgPool2D(2, 3, 1), [2, 3, 4, 2]);
  add(
    'Sequential:conv',
    (rng) =>
      new tl.Sequential(
        new tl.Conv1D(3, 2, 4, 1, { rng }),
        new tl.TanH(),
        new tl.MaxPool1D(2),
        new tl.Flatten(),
        new tl.Linear(12, 3, { rng }),
      ),
    [2, 9, 2],
  );
  add(
    'Sequential:dropout',
    (rng) =>
      new tl.Sequential(
        new tl.Linear(4, 6, { rng }),
        new tl.Dropout(0.3, { rng }),
        new tl.TanH(),
        new tl.Linear(6, 3, { rng }),
      ),
    [3, 4],
    { stochastic: true },
  );
  add(
    'AutoEncoder:conv',
    (rng) =>
      new tl.AutoEncoder(
        new tl.Sequential(
          new tl.Conv2D(3, 3, 1, 2, 1, { rng, padding: 'same' }),
          new tl.TanH(),
          new tl.AvgPool2D(2, 2),
          new tl.Flatten(),
          new tl.Linear(8, 3, { rng }),
        ),
        new tl.Sequential(
          new tl.Linear(3, 8, { rng }),
          new tl.Reshape(2, 2, 2),
          new tl.Upsample2D(2),
          new tl.Conv2D(1, 1, 2, 1, 1, { rng }),
          new tl.Sigmoid(),
        ),
      ),
    [2, 4, 4, 1],
    { draw: { kind: 'unit' } },
  );
  return entries;
}

/** The entry's input values, drawn from `rng` as its `draw` says. */
export function inputValues(entry: ModuleEntry, rng: Torchlet.Rng): Float32Array {
  const n = entry.input.reduce((a, b) => a * b, 1);
  const d = entry.draw;
  if (d.kind === 'distinct')
    return rng.shuffle(Float32Array.from({ length: n }, (_, i) => (2 * i) / n - 1));
  if (d.kind === 'unit') return Float32Array.from({ length: n }, () => rng.uniform(0.05, 0.95));
  const { scale = 1, gap = 0 } = d;
  return Float32Array.from({ length: n }, () => {
    const v = rng.uniform(-scale, scale);
    return Math.abs(v) < gap ? v + Math.sign(v || 1) * gap : v;
  });
}

/** A seeded input tensor for the entry (the caller disposes it). */
export function inputFor(tl: T, entry: ModuleEntry, seed: number): Torchlet.Tensor {
  return tl.Tensor.from(inputValues(entry, new tl.Rng(seed)), [...entry.input]);
}

/**
 * The parameter names and shapes a module must hold, derived from the descriptions alone: its
 * spec's `params(config())`, and for a container each child's, prefixed with the child's name
 * (`spec.children`: the listed names, or positions for `'index'`).
 */
export function expectedParams(m: Torchlet.Module): [string, number[]][] {
  const spec = m.spec;
  if (spec === undefined) throw new Error(`${m.type}: no static spec to derive parameters from`);
  const own = Object.entries(spec.params?.(m.config()) ?? {}).map(
    ([name, shape]): [string, number[]] => [name, [...shape]],
  );
  const names = spec.children;
  const children = m.children().flatMap((c, i) => {
    const prefix = names === undefined || names === 'index' ? String(i) : names[i]!;
    return expectedParams(c).map(([name, shape]): [string, number[]] => [
      `${prefix}.${name}`,
      shape,
    ]);
  });
  return [...own, ...children];
}
