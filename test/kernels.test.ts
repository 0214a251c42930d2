// The SIMD128 build of every kernel (cargo test covers the twins natively; this covers the .wasm),
// against float64 references, with NaN canaries around each output and the SIMD-tail sizes.
// Tolerances: element-wise kernels 2e-6 relative (a few ulp); GEMM 1e-5 relative to Σ|a·b|
// (float32 accumulation over k terms); losses 1e-5 relative (float64 accumulation inside); average
// pooling 1e-6 absolute (inputs below 1, a sum of at most 6 terms); padding, dropout and gradients
// on small integers exact.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rng, TorchletError, init, memory } from '../ts/index.js';
import {
  type Kernels,
  KERNEL_ARITY,
  type Ptr,
  alloc,
  free,
  heap,
  kernels,
} from '../ts/core/wasm.js';

const SIZES = [0, 1, 3, 4, 5, 15, 16, 17, 63];
const GUARD = 8;

await init();

/** A WASM buffer of n floats between NaN guards. */
class Guarded {
  readonly n: number;
  private readonly base: Ptr;
  constructor(n: number, values?: ArrayLike<number>) {
    this.n = n;
    this.base = alloc((n + 2 * GUARD) * 4, 'test');
    this.all().fill(NaN);
    if (values) this.view().set(values);
  }
  private all(): Float32Array {
    return new Float32Array(heap(), this.base, this.n + 2 * GUARD);
  }
  get ptr(): Ptr {
    return (this.base + GUARD * 4) as Ptr;
  }
  view(): Float32Array {
    return new Float32Array(heap(), this.ptr, this.n);
  }
  checkGuards(): void {
    const all = this.all();
    for (let i = 0; i < GUARD; i++) {
      expect(all[i], `guard before [${i}]`).toBeNaN();
      expect(all[GUARD + this.n + i], `guard after [${i}]`).toBeNaN();
    }
  }
  free(): void {
    free(this.base, (this.n + 2 * GUARD) * 4);
  }
}

function values(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(-scale, scale));
}

function expectClose(
  got: Float32Array,
  want: ArrayLike<number>,
  tol: (i: number) => number,
  what: string,
): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    const ok = Math.abs(got[i]! - want[i]!) <= tol(i);
    if (!ok) expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

describe('gemm (SIMD build)', () => {
  const dims = [0, 1, 3, 4, 5, 16, 17, 63];
  it('gemm in every transpose form (strides) matches float64 for all tail sizes', () => {
    const k = kernels();
    for (const m of dims)
      for (const kk of [1, 3, 5, 17])
        for (const n of dims) {
          const a = values(m * kk, m + 7 * kk + 31 * n);
          const b = values(kk * n, 3 + m + kk + n);
          const ref = new Float64Array(m * n);
          const mag = new Float64Array(m * n);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++)
              for (let p = 0; p < kk; p++) {
                ref[i * n + j] += a[i * kk + p]! * b[p * n + j]!;
                mag[i * n + j] += Math.abs(a[i * kk + p]! * b[p * n + j]!);
              }
          const tol = (i: number) => 1e-5 * mag[i]! + 1e-7;
          // a and b as stored, and transposed copies: a [k, m], b [n, k].
          const at = new Float32Array(kk * m);
          for (let i = 0; i < m; i++) for (let p = 0; p < kk; p++) at[p * m + i] = a[i * kk + p]!;
          const bt = new Float32Array(n * kk);
          for (let p = 0; p < kk; p++) for (let j = 0; j < n; j++) bt[j * kk + p] = b[p * n + j]!;
          const A = new Guarded(m * kk, a),
            B = new Guarded(kk * n, b),
            AT = new Guarded(kk * m, at),
            BT = new Guarded(n * kk, bt);
          const forms: Array<[string, Guarded, Guarded, [number, number, number, number]]> = [
            ['a·b', A, B, [kk, 1, n, 1]],
            ['a·bᵀ', A, BT, [kk, 1, 1, kk]],
            ['aᵀ·b', AT, B, [1, m, n, 1]],
            ['aᵀ·bᵀ', AT, BT, [1, m, 1, kk]],
          ];
          for (const [name, X, Y, [rsa, csa, rsb, csb]] of forms) {
            const C = new Guarded(m * n);
            k.gemm(X.ptr, Y.ptr, C.ptr, m, kk, n, rsa, csa, rsb, csb, 0);
            C.checkGuards();
            expectClose(C.view(), ref, tol, `gemm ${name} ${m}x${kk}x${n}`);
            // beta = 1 adds onto what c holds: ones.
            C.view().fill(1);
            k.gemm(X.ptr, Y.ptr, C.ptr, m, kk, n, rsa, csa, rsb, csb, 1);
            C.checkGuards();
            expectClose(
              C.view(),
              ref.map((v) => v + 1),
              tol,
              `gemm ${name} beta 1 ${m}x${kk}x${n}`,
            );
            C.free();
          }
          for (const g of [A, B, AT, BT]) g.free();
        }
  });

  it('is exact on small integers', () => {
    const k = kernels();
    const m = 5,
      kk = 7,
      n = 9;
    const a = Float32Array.from({ length: m * kk }, (_, i) => (i % 5) - 2);
    const b = Float32Array.from({ length: kk * n }, (_, i) => (i % 3) - 1);
    const A = new Guarded(m * kk, a),
      B = new Guarded(kk * n, b),
      C = new Guarded(m * n);
    k.gemm(A.ptr, B.ptr, C.ptr, m, kk, n, kk, 1, n, 1, 0);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < kk; p++) s += a[i * kk + p]! * b[p * n + j]!;
        expect(C.view()[i * n + j]).toBe(s);
      }
    [A, B, C].forEach((g) => g.free());
  });
});

describe('parameter gradients (SIMD build)', () => {
  it('beta = 0 overwrites NaN gradients, and beta = 1 then adds the same again (exact on integers)', () => {
    const k = kernels();
    const ints = (n: number, seed: number) => values(n, seed).map((v) => Math.round(v * 3));
    for (const [batch, nIn, nOut] of [
      [0, 3, 5],
      [3, 4, 17],
      [17, 9, 8],
      [5, 63, 16],
    ] as const) {
      const X = new Guarded(batch * nIn, ints(batch * nIn, 1)),
        D = new Guarded(batch * nOut, ints(batch * nOut, 2));
      const GW = new Guarded(nIn * nOut),
        GB = new Guarded(nOut);
      k.linear_backward_update_gradient(X.ptr, D.ptr, GW.ptr, GB.ptr, batch, nIn, nOut, 0);
      GW.checkGuards();
      GB.checkGuards();
      const want = new Float64Array(nIn * nOut),
        wantB = new Float64Array(nOut);
      for (let r = 0; r < batch; r++)
        for (let o = 0; o < nOut; o++) {
          wantB[o] += D.view()[r * nOut + o]!;
          for (let i = 0; i < nIn; i++)
            want[i * nOut + o] += X.view()[r * nIn + i]! * D.view()[r * nOut + o]!;
        }
      expectClose(GW.view(), want, () => 0, `linear gradWeight beta 0 ${batch}x${nIn}x${nOut}`);
      expectClose(GB.view(), wantB, () => 0, `linear gradBias beta 0 ${batch}x${nIn}x${nOut}`);
      k.linear_backward_update_gradient(X.ptr, D.ptr, GW.ptr, GB.ptr, batch, nIn, nOut, 1);
      expectClose(
        GW.view(),
        want.map((v) => 2 * v),
        () => 0,
        'linear gradWeight beta 1',
      );
      expectClose(
        GB.view(),
        wantB.map((v) => 2 * v),
        () => 0,
        'linear gradBias beta 1',
      );
      [X, D, GW, GB].forEach((g) => g.free());
    }
    // Conv2D: c_out 16 (the unpacked path, several row blocks) and 5 (the packed GEMM).
    for (const cout of [16, 5]) {
      const [batch, h, w, cin, kh, kw] = [2, 20, 40, 2, 3, 3];
      const [oh, ow] = [h - kh + 1, w - kw + 1];
      const X = new Guarded(batch * h * w * cin, ints(batch * h * w * cin, 3)),
        D = new Guarded(batch * oh * ow * cout, ints(batch * oh * ow * cout, 4));
      const GW = new Guarded(kh * kw * cin * cout),
        GB = new Guarded(cout);
      k.conv2d_backward_update_gradient(
        X.ptr,
        D.ptr,
        GW.ptr,
        GB.ptr,
        batch,
        h,
        w,
        cin,
        cout,
        kh,
        kw,
        1,
        0,
      );
      GW.checkGuards();
      GB.checkGuards();
      const once = [Float32Array.from(GW.view()), Float32Array.from(GB.view())] as const;
      expect(once[0].every(Number.isFinite) && once[1].every(Number.isFinite)).toBe(true);
      const wantB = new Float64Array(cout);
      for (let i = 0; i < D.n; i++) wantB[i % cout] += D.view()[i]!;
      expectClose(GB.view(), wantB, () => 0, `conv2d gradBias beta 0 cout ${cout}`);
      k.conv2d_backward_update_gradient(
        X.ptr,
        D.ptr,
        GW.ptr,
        GB.ptr,
        batch,
        h,
        w,
        cin,
        cout,
        kh,
        kw,
        1,
        1,
      );
      expectClose(
        GW.view(),
        once[0].map((v) => 2 * v),
        () => 0,
        `conv2d gradWeight beta 1 cout ${cout}`,
      );
      [X, D, GW, GB].forEach((g) => g.free());
    }
  });
});

describe('pooling, padding and dropout kernels (SIMD build)', () => {
  it('avgpool_forward / avgpool_backward_delta match float64 at every channel tail', () => {
    const k = kernels();
    for (const c of SIZES)
      for (const [h, w, kh, kw, s] of [
        [1, 9, 1, 3, 2],
        [5, 6, 2, 3, 1],
        [7, 6, 3, 2, 2],
        [4, 4, 1, 1, 3],
      ] as const) {
        const batch = 2;
        const [oh, ow] = [Math.floor((h - kh) / s) + 1, Math.floor((w - kw) / s) + 1];
        const x = values(batch * h * w * c, c + 1),
          delta = values(batch * oh * ow * c, c + 2);
        const y = new Float64Array(delta.length),
          dx = new Float64Array(x.length);
        for (let b = 0; b < batch; b++)
          for (let i = 0; i < oh; i++)
            for (let j = 0; j < ow; j++)
              for (let ch = 0; ch < c; ch++) {
                const o = ((b * oh + i) * ow + j) * c + ch;
                for (let p = 0; p < kh; p++)
                  for (let q = 0; q < kw; q++) {
                    const a = ((b * h + i * s + p) * w + j * s + q) * c + ch;
                    y[o] += x[a]! / (kh * kw);
                    dx[a] += delta[o]! / (kh * kw);
                  }
              }
        const X = new Guarded(x.length, x),
          Y = new Guarded(y.length),
          D = new Guarded(delta.length, delta),
          DX = new Guarded(x.length);
        k.avgpool_forward(X.ptr, Y.ptr, batch, h, w, c, kh, kw, s);
        Y.checkGuards();
        expectClose(Y.view(), y, () => 1e-6, `avgpool_forward c=${c} ${h}x${w} k${kh}x${kw} s${s}`);
        k.avgpool_backward_delta(D.ptr, DX.ptr, batch, h, w, c, kh, kw, s);
        DX.checkGuards();
        // Inputs outside every window (s > k) get exactly 0.
        expectClose(
          DX.view(),
          dx,
          (i) => (dx[i] === 0 ? 0 : 1e-6),
          `avgpool_backward_delta c=${c} ${h}x${w} k${kh}x${kw} s${s}`,
        );
        [X, Y, D, DX].forEach((g) => g.free());
      }
  });

  it('pad_forward / pad_backward_delta copy exactly at every channel tail', () => {
    const k = kernels();
    for (const c of SIZES)
      for (const [h, w, top, bottom, left, right] of [
        [1, 9, 0, 0, 1, 2],
        [3, 4, 1, 1, 0, 1],
        [2, 2, 2, 0, 3, 0],
      ] as const) {
        const batch = 2;
        const [oh, ow] = [top + h + bottom, left + w + right];
        const x = values(batch * h * w * c, c + 3),
          delta = values(batch * oh * ow * c, c + 4);
        const y = new Float32Array(delta.length),
          dx = new Float32Array(x.length);
        for (let b = 0; b < batch; b++)
          for (let i = 0; i < h; i++)
            for (let j = 0; j < w; j++)
              for (let ch = 0; ch < c; ch++) {
                const a = ((b * h + i) * w + j) * c + ch,
                  o = ((b * oh + top + i) * ow + left + j) * c + ch;
                y[o] = x[a]!;
                dx[a] = delta[o]!;
              }
        const X = new Guarded(x.length, x),
          Y = new Guarded(y.length),
          D = new Guarded(delta.length, delta),
          DX = new Guarded(x.length);
        k.pad_forward(X.ptr, Y.ptr, batch, h, w, c, top, bottom, left, right);
        Y.checkGuards();
        expectClose(Y.view(), y, () => 0, `pad_forward c=${c}`);
        k.pad_backward_delta(D.ptr, DX.ptr, batch, h, w, c, top, bottom, left, right);
        DX.checkGuards();
        expectClose(DX.view(), dx, () => 0, `pad_backward_delta c=${c}`);
        [X, Y, D, DX].forEach((g) => g.free());
      }
  });

  it('dropout_forward / dropout_backward_delta multiply by the mask exactly', () => {
    const k = kernels();
    const scale = Math.fround(1 / (1 - 0.3));
    for (const n of [...SIZES, 40]) {
      const x = values(n, n + 5),
        mask = values(n, n + 6).map((u) => (u < 0.4 ? scale : 0));
      const X = new Guarded(n, x),
        M = new Guarded(n, mask),
        Y = new Guarded(n);
      const want = Array.from(x, (v, i) => Math.fround(v * mask[i]!));
      k.dropout_forward(X.ptr, M.ptr, Y.ptr, n);
      Y.checkGuards();
      expectClose(Y.view(), want, () => 0, `dropout_forward n=${n}`);
      Y.view().fill(NaN);
      k.dropout_backward_delta(X.ptr, M.ptr, Y.ptr, n);
      Y.checkGuards();
      expectClose(Y.view(), want, () => 0, `dropout_backward_delta n=${n}`);
      [X, M, Y].forEach((g) => g.free());
    }
  });
});

describe('element-wise kernels (SIMD build)', () => {
  const cases: Array<
    [
      string,
      (x: number) => number,
      (k: ReturnType<typeof kernels>) => (x: Ptr, y: Ptr, n: number) => void,
    ]
  > = [
    ['tanh_forward', Math.tanh, (k) => k.tanh_forward],
    ['sigmoid_forward', (x) => 1 / (1 + Math.exp(-x)), (k) => k.sigmoid_forward],
    ['relu_forward', (x) => Math.max(x, 0), (k) => k.relu_forward],
  ];
  for (const [name, f, pick] of cases) {
    it(`${name} matches float64 at every tail size and at edge values`, () => {
      for (const n of [...SIZES, 40]) {
        const x = values(n, n + 1, 6);
        const edges = [0, -0, 1e-30, -1e-30, 88, -88, 89, -89, 1e4, -1e4, 0.3, -0.3];
        for (let i = 0; i < Math.min(n, edges.length); i++) x[i] = edges[i]!;
        const X = new Guarded(n, x),
          Y = new Guarded(n);
        pick(kernels())(X.ptr, Y.ptr, n);
        Y.checkGuards();
        expectClose(
          Y.view(),
          Array.from(x, f),
          (i) => 2e-6 * Math.abs(f(x[i]!)) + 1e-37,
          `${name} n=${n}`,
        );
        X.free();
        Y.free();
      }
    });
  }

  it('backward kernels match their formulas', () => {
    const k = kernels();
    for (const n of SIZES) {
      const y = values(n, 11 + n),
        d = values(n, 12 + n);
      const Y = new Guarded(n, y),
        D = new Guarded(n, d),
        DX = new Guarded(n);
      k.tanh_backward_delta(Y.ptr, D.ptr, DX.ptr, n);
      DX.checkGuards();
      expectClose(
        DX.view(),
        Array.from(y, (v, i) => d[i]! * (1 - v * v)),
        () => 1e-6,
        'tanh_backward_delta',
      );
      k.sigmoid_backward_delta(Y.ptr, D.ptr, DX.ptr, n);
      expectClose(
        DX.view(),
        Array.from(y, (v, i) => d[i]! * v * (1 - v)),
        () => 1e-6,
        'sigmoid_backward_delta',
      );
      k.relu_backward_delta(Y.ptr, D.ptr, DX.ptr, n);
      DX.checkGuards();
      expectClose(
        DX.view(),
        Array.from(y, (v, i) => (v > 0 ? d[i]! : 0)),
        () => 0,
        'relu_backward_delta',
      );
      [Y, D, DX].forEach((g) => g.free());
    }
  });

  it('softmax rows sum to 1 and survive huge logits', () => {
    const k = kernels();
    for (const cols of [1, 3, 4, 5, 17]) {
      const rows = 3;
      const x = values(rows * cols, cols, 5);
      x[0] = 1e4;
      const X = new Guarded(rows * cols, x),
        Y = new Guarded(rows * cols);
      k.softmax_forward(X.ptr, Y.ptr, rows, cols);
      Y.checkGuards();
      const y = Y.view();
      for (let r = 0; r < rows; r++) {
        const row = Array.from(x.subarray(r * cols, (r + 1) * cols));
        const max = Math.max(...row);
        const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
        for (let j = 0; j < cols; j++)
          expect(Math.abs(y[r * cols + j]! - Math.exp(row[j]! - max) / sum)).toBeLessThan(1e-6);
      }
      X.free();
      Y.free();
    }
  });
});

describe('loss kernels (SIMD build)', () => {
  it('log-softmax cross-entropy is stable for logits of 1e4 and matches float64', () => {
    const k = kernels();
    for (const cols of [1, 3, 4, 5, 17]) {
      const rows = 4;
      const yhat = values(rows * cols, cols, 3);
      yhat[0] = 1e4;
      yhat[1 % yhat.length] = -1e4;
      const y = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) y[r * cols + ((r * 7) % cols)] = 1;
      const Y = new Guarded(rows * cols, y),
        P = new Guarded(rows * cols, yhat),
        G = new Guarded(rows * cols);
      const value = k.log_softmax_cross_entropy_forward(Y.ptr, P.ptr, rows, cols);
      let want = 0;
      const soft = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        const row = Array.from(yhat.subarray(r * cols, (r + 1) * cols));
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        for (let j = 0; j < cols; j++) {
          want -= y[r * cols + j]! * (row[j]! - lse);
          soft[r * cols + j] = Math.exp(row[j]! - lse);
        }
      }
      want /= rows;
      expect(Math.abs(value - want)).toBeLessThanOrEqual(1e-5 * Math.abs(want) + 1e-6);
      k.log_softmax_cross_entropy_backward(Y.ptr, P.ptr, G.ptr, rows, cols);
      G.checkGuards();
      expectClose(
        G.view(),
        Array.from(soft, (s, i) => (s - y[i]!) / rows),
        () => 1e-6,
        'lsce grad',
      );
      [Y, P, G].forEach((g) => g.free());
    }
  });

  it('an empty batch gives 0, not NaN', () => {
    const k = kernels();
    const A = new Guarded(1, [0]);
    expect(k.mse_loss_forward(A.ptr, A.ptr, 0, 3)).toBe(0);
    expect(k.log_softmax_cross_entropy_forward(A.ptr, A.ptr, 0, 3)).toBe(0);
    A.free();
  });

  it('BCE clamps its logs at -100 like PyTorch', () => {
    const k = kernels();
    const Y = new Guarded(2, [1, 0]),
      P = new Guarded(2, [0, 1]);
    expect(k.bce_loss_forward(Y.ptr, P.ptr, 1, 2)).toBeCloseTo(200, 3);
    [Y, P].forEach((g) => g.free());
  });
});

describe('utility kernels', () => {
  it('sgd_update, non_finite_count, count_outside', () => {
    const k = kernels();
    for (const n of SIZES) {
      const p = values(n, n),
        g = values(n, n + 100);
      const P = new Guarded(n, p),
        G = new Guarded(n, g);
      k.sgd_update(G.ptr, P.ptr, n, 0.5);
      P.checkGuards();
      expectClose(
        P.view(),
        Array.from(p, (v, i) => Math.fround(v - Math.fround(g[i]! * 0.5))),
        () => 0,
        'sgd_update',
      );
      expect(k.non_finite_count(P.ptr, n)).toBe(0);
      if (n > 2) {
        P.view()[n - 1] = Infinity;
        P.view()[0] = NaN;
        expect(k.non_finite_count(P.ptr, n)).toBe(2);
        expect(k.count_outside(P.ptr, n, -10, 10)).toBe(2);
      }
      [P, G].forEach((b) => b.free());
    }
  });
});

describe('kernels defend themselves (bounds checks in the release .wasm, issue 12)', () => {
  // Pointer arguments per export, from the Kernels interface (they come first, typed Ptr).
  const src = readFileSync(new URL('../ts/core/wasm.ts', import.meta.url), 'utf8');
  const body = src.slice(src.indexOf('export interface Kernels {'));
  const ptrs = new Map<string, number>();
  for (const m of body.slice(0, body.indexOf('\n}')).matchAll(/(\w+)\(([^)]*)\)\s*:/g))
    ptrs.set(m[1]!, (m[2]!.match(/:\s*Ptr\b/g) ?? []).length);
  const raw = kernels() as unknown as Record<string, (...a: number[]) => unknown>;
  const compute = Object.keys(KERNEL_ARITY).filter(
    (n) => (ptrs.get(n) ?? 0) > 0 && n !== 'tl_free',
  );
  const FLOATS = 4096;

  /** Blocks of FLOATS zeros (valid labels, indices and arg-maxes), and a snapshot of them. */
  function blocks(count: number): { ptrs: Ptr[]; snap: () => Buffer; dispose: () => void } {
    const ps = Array.from({ length: count }, () => alloc(FLOATS * 4, 'test'));
    for (const p of ps) new Float32Array(heap(), p, FLOATS).fill(0);
    return {
      ptrs: ps,
      snap: () => Buffer.concat(ps.map((p) => new Uint8Array(heap(), p, FLOATS * 4))),
      dispose: () => ps.forEach((p) => free(p, FLOATS * 4)),
    };
  }
  function thrown(f: () => unknown): unknown {
    try {
      f();
    } catch (e) {
      return e;
    }
    return null;
  }
  const call = (name: string, ps: number[], dim: number) =>
    raw[name]!(
      ...ps,
      ...Array.from({ length: KERNEL_ARITY[name as keyof Kernels] - ps.length }, () => dim),
    );

  it(`every compute export (${'≥'}40) runs on live blocks, and refuses one too short, freed or overflowing with OUT_OF_BOUNDS naming it, writing nothing`, () => {
    expect(compute.length).toBeGreaterThanOrEqual(40);
    const live = memory().liveBytes;
    for (const name of compute) {
      const n = ptrs.get(name)!;
      const b = blocks(n + 2); // the last two are canaries around the short block
      expect(
        thrown(() => call(name, b.ptrs.slice(0, n), 4)),
        `${name} on live blocks`,
      ).toBe(null);
      for (let i = 0; i < n; i++) {
        const short = alloc(16, 'test'); // 4 floats; passed 2 floats before its end
        const gone = alloc(FLOATS * 4, 'test');
        free(gone, FLOATS * 4);
        const before = b.snap();
        for (const [what, p, dim] of [
          ['short', short + 8, 4],
          ['freed', gone, 4],
          ['unallocated', 2 ** 32 - 64, 4],
        ] as const) {
          // conv*_backward_delta's workspace is empty when stride >= kernel width (all dims 4).
          if (what === 'short' && name.endsWith('_backward_delta') && i === 3) continue;
          const ps = b.ptrs.slice(0, n);
          ps[i] = p as Ptr;
          const e = thrown(() => call(name, ps, dim));
          expect(e, `${name} arg ${i} ${what}`).toBeInstanceOf(TorchletError);
          expect((e as TorchletError).code).toBe('OUT_OF_BOUNDS');
          expect((e as Error).message).toMatch(
            new RegExp(`^kernels\\.${name}: expected argument ${i} \\(\\w+\\).*bug in torchlet`),
          );
          expect(b.snap().equals(before), `${name} arg ${i} ${what}: a block changed`).toBe(true);
        }
        free(short, 16);
      }
      // Sizes whose byte count overflows 32 bits fail before anything is read or written.
      const before = b.snap();
      const e = thrown(() => call(name, b.ptrs.slice(0, n), 65536));
      expect(e, `${name} with dimensions 65536`).toBeInstanceOf(TorchletError);
      expect((e as TorchletError).code).toBe('OUT_OF_BOUNDS');
      expect(b.snap().equals(before)).toBe(true);
      b.dispose();
    }
    expect(memory().liveBytes).toBe(live);
  });

  it('products that wrap in 32 bits fail as overflows, not as small sizes', () => {
    const b = blocks(4);
    const [x, y, w, bias] = b.ptrs as [Ptr, Ptr, Ptr, Ptr];
    // 65536 · 65536 wraps to 0 in u32: a wrapping check would pass and the kernel run.
    const e = thrown(() => kernels().linear_forward(x, y, w, bias, 65536, 65536, 1));
    expect((e as Error).message).toMatch(/argument 0 \(x\).*overflows 32 bits/);
    const g = thrown(() => kernels().gemm(x, w, y, 2, 2, 2, 2 ** 31, 2 ** 31, 1, 1, 0));
    expect((g as Error).message).toMatch(/kernels\.gemm: expected argument 0 \(a\).*overflows/);
    b.dispose();
  });

  it('indices that steer writes are checked first: arg-max, labels, row indices', () => {
    const b = blocks(3);
    const [p, q, r] = b.ptrs as [Ptr, Ptr, Ptr];
    new Uint32Array(heap(), q, 4).set([0, 1, 99, 2]);
    const before = b.snap();
    expect(thrown(() => kernels().maxpool_backward_delta(p, q, r, 4, 8))).toMatchObject({
      code: 'OUT_OF_BOUNDS',
      message: expect.stringMatching(/argument 1 \(argmax\).*index/),
    });
    new Float32Array(heap(), p, 3).set([0, 4, 1]);
    const before2 = b.snap();
    expect(thrown(() => kernels().one_hot(p, r, 3, 4))).toMatchObject({ code: 'OUT_OF_BOUNDS' });
    new Uint32Array(heap(), q, 2).set([0, FLOATS]);
    expect(thrown(() => kernels().gather_rows(p, q, r, 2, 1))).toMatchObject({
      message: expect.stringMatching(/argument 0 \(src\)/),
    });
    expect(before.equals(before2)).toBe(false);
    b.dispose();
  });

  it('a double free, or a free with the wrong size, throws and frees nothing', () => {
    const live = memory().liveBytes;
    const p = alloc(64, 'test');
    expect(thrown(() => free(p, 128))).toMatchObject({
      code: 'OUT_OF_BOUNDS',
      message: expect.stringMatching(/^kernels\.tl_free: .*double free/),
    });
    free(p, 64);
    expect(thrown(() => free(p, 64))).toMatchObject({ code: 'OUT_OF_BOUNDS' });
    expect(memory().liveBytes).toBe(live);
  });

  it('a failed check leaves the shadow stack where it was (tl_fail rewinds it if a frame was open): 10,000 failures, then GEMM works', () => {
    const sp = (kernels() as unknown as { __stack_pointer: WebAssembly.Global }).__stack_pointer;
    const top = sp.value as number;
    const b = blocks(3);
    const [a, bb, c] = b.ptrs as [Ptr, Ptr, Ptr];
    for (let i = 0; i < 5_000; i++) {
      // A throw skips the epilogues of open frames: a leak would show in sp at once.
      thrown(() => kernels().gemm(a, bb, (c + FLOATS * 4 - 4) as Ptr, 4, 4, 4, 4, 1, 4, 1, 0));
      thrown(() => kernels().linear_forward(a, bb, c, 0 as Ptr, 4, 4, 4));
    }
    expect(sp.value).toBe(top);
    new Float32Array(heap(), a, 4).set([1, 2, 3, 4]);
    new Float32Array(heap(), bb, 4).set([1, 1, 1, 1]);
    kernels().gemm(a, bb, c, 1, 4, 1, 4, 1, 1, 1, 0);
    expect(new Float32Array(heap(), c, 1)[0]).toBe(10);
    b.dispose();
  });
});

describe('cross-entropy at tiny probabilities (issue 12 item 13)', () => {
  it('backward is the central difference of the clamped forward for yhat from 1e-44 to 1e-12', () => {
    const [y, p, g] = [alloc(16, 'test'), alloc(16, 'test'), alloc(16, 'test')];
    const fwd = (v: number): number => {
      new Float32Array(heap(), y, 1)[0] = 1;
      new Float32Array(heap(), p, 1)[0] = v;
      return kernels().cross_entropy_loss_forward(y, p, 1, 1);
    };
    const ulp = 2 ** -149;
    const floor = 27 * ulp; // least f32 whose ln is >= -100: the forward is flat below it
    for (const x of [1e-44, 3e-44, 5e-44, 1e-42, 1e-40, 1e-39, 1e-38, 1e-30, 1e-20, 1e-12]) {
      const v = Math.fround(x);
      const h = Math.max(v * 0.01, 4 * ulp);
      const [lo, hi] =
        v < floor
          ? [Math.max(ulp, v - 2 * ulp), Math.min(v + 2 * ulp, floor - ulp)]
          : [Math.fround(Math.max(v - h, floor)), Math.fround(v + h)];
      const cd = (fwd(hi) - fwd(lo)) / (hi - lo);
      fwd(v);
      kernels().cross_entropy_loss_backward(y, p, g, 1, 1);
      const grad = new Float32Array(heap(), g, 1)[0]!;
      if (cd < -3.4028234663852886e38) expect(grad, `yhat ${x}`).toBe(-Infinity);
      else if (v < floor) expect(grad === 0 && cd === 0, `yhat ${x}: ${grad}, ${cd}`).toBe(true);
      else expect(Math.abs(grad / cd - 1), `yhat ${x}: ${grad} vs ${cd}`).toBeLessThan(5e-3);
    }
    for (const q of [y, p, g]) free(q, 16);
  });
});
