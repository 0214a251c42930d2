// GPU checks of the gemm family (ts/core/gpu/gemm.ts) against the WASM kernels.
//
// GEMM shapes (m x k x n) run in the three layer forms a·b, a·bᵀ and aᵀ·b with beta 0 and 1:
// 1x1x1, 7x13x5 and 65x33x70 (ragged 32-tiles and k chunks of 16), 64x784x100 (the MNIST layer:
// k is split over the grid, so the scratch partials and their reduction run), 3x300x3 (a ragged
// last split), 1025x20x1025 (enough tiles for the 64-tile entry, ragged on both sides),
// 3x2048x520 (64-tiles with k split), general and zero strides (conv-style overlapping reads),
// k = 0, m = 0 and n = 0. The Linear kernels run the same shapes through their fixed strides,
// with a bias, and a column reduction for the bias gradient that crosses its 32-column
// workgroups. gather_rows runs one copy over more than 65535 · 256 elements so its grid folds
// into y. Outputs the kernels overwrite start at 1e30 or more: a kernel that reads them instead
// of overwriting shows up as a huge difference.
// Not here: a GEMM of more than 65535 row tiles (m > 4194240), which the plan splits into several
// dispatches; it passes, but takes SwiftShader about 100 s (65537 workgroups with barriers).
import type { Kernels } from '../../ts/core/wasm.js';
import type { CaseMemory, Fill, KernelCase, Region } from './case.js';

/** Outputs the kernels overwrite (or beta 0 must not read) start here, far from any result. */
const STALE: Fill = { uniform: [1e30, 2e30] };

/** Floats a strided [rows, cols] operand reaches (at least one, so every pointer is real). */
function reach(rows: number, cols: number, rs: number, cs: number): number {
  if (rows === 0 || cols === 0) return 1;
  return (rows - 1) * rs + (cols - 1) * cs + 1;
}

/** Deterministic small integers in [0, n): the same on both runs of a case. */
function ints(count: number, n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  });
}

interface Strides {
  rsa: number;
  csa: number;
  rsb: number;
  csb: number;
}

type Form = 'a·b' | 'a·bᵀ' | 'aᵀ·b';

function formStrides(form: Form, m: number, k: number, n: number): Strides {
  if (form === 'a·b') return { rsa: k, csa: 1, rsb: n, csb: 1 };
  if (form === 'a·bᵀ') return { rsa: k, csa: 1, rsb: 1, csb: k };
  return { rsa: 1, csa: m, rsb: n, csb: 1 };
}

function gemmCase(
  label: string,
  m: number,
  k: number,
  n: number,
  s: Strides,
  beta: 0 | 1,
): KernelCase {
  return {
    name: `gemm ${label} ${m}x${k}x${n} beta ${beta}`,
    kernel: 'gemm',
    run(kt: Kernels, mem: CaseMemory): Region[] {
      const a = mem.f32(reach(m, k, s.rsa, s.csa));
      const b = mem.f32(reach(k, n, s.rsb, s.csb));
      const c = mem.f32(m * n, beta === 0 ? STALE : 'normal');
      kt.gemm(a, b, c, m, k, n, s.rsa, s.csa, s.rsb, s.csb, beta);
      return [{ ptr: c, n: m * n }];
    },
  };
}

const FORMS: readonly Form[] = ['a·b', 'a·bᵀ', 'aᵀ·b'];

const gemmCases: KernelCase[] = [];
for (const [m, k, n] of [
  [1, 1, 1],
  [7, 13, 5],
  [65, 33, 70],
  [64, 784, 100],
] as const) {
  for (const form of FORMS) {
    for (const beta of [0, 1] as const) {
      gemmCases.push(gemmCase(form, m, k, n, formStrides(form, m, k, n), beta));
    }
  }
}
gemmCases.push(
  gemmCase('a·bᵀ', 3, 300, 3, formStrides('a·bᵀ', 3, 300, 3), 1),
  gemmCase('aᵀ·b', 3, 300, 3, formStrides('aᵀ·b', 3, 300, 3), 0),
  // 17 x 17 tiles of 64: the 64-tile entry, ragged rows, columns and k (a·bᵀ comes next).
  gemmCase('a·b', 1025, 20, 1025, formStrides('a·b', 1025, 20, 1025), 1),
  gemmCase('aᵀ·b', 1025, 20, 1025, formStrides('aᵀ·b', 1025, 20, 1025), 0),
  // 9 column tiles of 64 with k split 26 ways: the 64-tile entry writing partials, a·bᵀ.
  gemmCase('a·bᵀ', 3, 2048, 520, formStrides('a·bᵀ', 3, 2048, 520), 1),
  gemmCase('strides 2,3 / 5,2', 13, 17, 11, { rsa: 2, csa: 3, rsb: 5, csb: 2 }, 0),
  gemmCase('strides 1,1 / 1,1 (overlapping)', 40, 37, 45, { rsa: 1, csa: 1, rsb: 1, csb: 1 }, 1),
  gemmCase('strides 0,1 / 1,0 (broadcast)', 9, 200, 6, { rsa: 0, csa: 1, rsb: 1, csb: 0 }, 0),
  gemmCase('k = 0', 3, 0, 5, { rsa: 1, csa: 1, rsb: 1, csb: 1 }, 0),
  gemmCase('k = 0', 3, 0, 5, { rsa: 1, csa: 1, rsb: 1, csb: 1 }, 1),
  gemmCase('m = 0', 0, 4, 5, { rsa: 4, csa: 1, rsb: 5, csb: 1 }, 0),
  gemmCase('n = 0', 4, 4, 0, { rsa: 4, csa: 1, rsb: 1, csb: 1 }, 1),
);

const SHAPES: ReadonlyArray<readonly [number, number, number]> = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 33, 70],
  [64, 784, 100],
];

const linearCases: KernelCase[] = [];
for (const [batch, nIn, nOut] of [...SHAPES, [3, 0, 4], [0, 5, 6]] as const) {
  linearCases.push({
    name: `linear_forward ${batch}x${nIn}->${nOut}`,
    kernel: 'linear_forward',
    run(k, m) {
      const x = m.f32(Math.max(1, batch * nIn));
      const wt = m.f32(Math.max(1, nIn * nOut));
      const b = m.f32(Math.max(1, nOut));
      const y = m.f32(batch * nOut, STALE);
      k.linear_forward(x, y, wt, b, batch, nIn, nOut);
      return [{ ptr: y, n: batch * nOut }];
    },
  });
}
for (const [batch, nIn, nOut] of [...SHAPES, [5, 4, 0], [0, 5, 6]] as const) {
  linearCases.push({
    name: `linear_backward_delta ${batch}x${nIn}->${nOut}`,
    kernel: 'linear_backward_delta',
    run(k, m) {
      const delta = m.f32(Math.max(1, batch * nOut));
      const wt = m.f32(Math.max(1, nIn * nOut));
      const dx = m.f32(batch * nIn, STALE);
      k.linear_backward_delta(delta, dx, wt, batch, nIn, nOut);
      return [{ ptr: dx, n: batch * nIn }];
    },
  });
}
for (const [batch, nIn, nOut] of [...SHAPES, [1000, 3, 40], [0, 5, 6], [4, 0, 3]] as const) {
  for (const beta of [0, 1] as const) {
    linearCases.push({
      name: `linear_backward_update_gradient ${batch}x${nIn}->${nOut} beta ${beta}`,
      kernel: 'linear_backward_update_gradient',
      run(k, m) {
        const x = m.f32(Math.max(1, batch * nIn));
        const delta = m.f32(Math.max(1, batch * nOut));
        const gw = m.f32(nIn * nOut, beta === 0 ? STALE : 'normal');
        const gb = m.f32(nOut, beta === 0 ? STALE : 'normal');
        k.linear_backward_update_gradient(x, delta, gw, gb, batch, nIn, nOut, beta);
        return [
          { ptr: gw, n: nIn * nOut },
          { ptr: gb, n: nOut },
        ];
      },
    });
  }
}

const rowCases: KernelCase[] = [];
// The last one: 4096 · 4097 elements, past 65535 workgroups of 256.
for (const [rows, cols, srcRows] of [
  [1, 1, 1],
  [7, 3, 5],
  [13, 70, 40],
  [300, 257, 17],
  [0, 5, 2],
  [4096, 4097, 50],
] as const) {
  rowCases.push({
    name: `gather_rows ${rows}x${cols} from ${srcRows} rows`,
    kernel: 'gather_rows',
    run(k, m) {
      const src = m.f32(srcRows * cols);
      const idx = m.u32(ints(Math.max(1, rows), srcRows, rows * 31 + cols));
      const dst = m.f32(rows * cols, rows * cols > 1e6 ? 'zeros' : STALE);
      k.gather_rows(src, idx, dst, rows, cols);
      return [{ ptr: dst, n: rows * cols }];
    },
  });
}
for (const [rows, cols] of [
  [1, 1],
  [7, 3],
  [13, 10],
  [100, 257],
  [0, 4],
] as const) {
  rowCases.push({
    name: `one_hot ${rows}x${cols}`,
    kernel: 'one_hot',
    run(k, m) {
      const labels = m.f32(Math.max(1, rows), ints(Math.max(1, rows), cols, rows + 7 * cols));
      const out = m.f32(rows * cols, STALE);
      k.one_hot(labels, out, rows, cols);
      return [{ ptr: out, n: rows * cols }];
    },
  });
}
for (const n of [1, 7, 13, 1000, 70000, 0]) {
  rowCases.push({
    name: `fill_zero ${n}`,
    kernel: 'fill_zero',
    run(k, m) {
      const x = m.f32(Math.max(1, n), STALE);
      k.fill_zero(x, n);
      // n = 0 must leave x alone: the one float it has keeps its fill.
      return [{ ptr: x, n: Math.max(1, n) }];
    },
  });
}

export const cases: KernelCase[] = [...gemmCases, ...linearCases, ...rowCases];
