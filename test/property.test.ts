// Property tests (issue 7.3): fast-check draws shapes, strides and float32 values (fast-check's
// float generator favours -0, subnormals, the range ends and powers of two) for every kernel export
// of the SIMD build, and compares with a float64 reference written here in plain loops. Each output
// sits between NaN guards that must survive. 100 runs per kernel in `npm test`, 10,000 under
// `npm run test:stress`; a failure prints its seed and path (replay: FC_SEED=… FC_PATH=…).
// Error model (u = 2^-24, the float32 unit roundoff; R4 of docs/research reliability.md):
// - sums of K terms (GEMM, Linear, Conv, bias gradients, pooling scatter, average pooling with its
//   terms divided by kh·kw): |got - ref| <= 2·(K+1)·u·Σ|terms| + (K+1)·2^-149 (standard summation
//   bound, 2x safety, which also covers the one division of average pooling; the last term covers
//   subnormal products).
// - copies, ReLU, max pooling, padding, dropout, gather/one-hot/fill and the optimiser updates:
//   exact, dropout and the updates against a Math.fround emulation in the kernel's operation
//   order (0 ulp).
// - beta = 0 (gemm, the gradient kernels): the output starts as NaN, so a read of it would show.
// - tanh/sigmoid: <= 4 ulp (8u relative) + 2^-126 (below the normal range the result may flush).
// - backward formulas and losses: a few u relative to the magnitudes that enter each formula,
//   plus the terms' count for summed losses (bounds spelled out beside each property).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compiledModule, init } from '../ts/index.js';
import { type Kernels, type Ptr, alloc, free, heap, kernels } from '../ts/core/wasm.js';
import { TIMEOUT, fcParams, tier } from './tiers.js';

await init();

const U = 2 ** -24;
const F32_MAX = 3.4028234663852886e38;
const TINY = 2 ** -126;
const SUB = 2 ** -149;
const GUARD = 4;
let totalRuns = 0;
afterAll(() => console.log(`property tests: ${totalRuns} runs in total`));

/** A WASM buffer of n f32 (or u32) values between NaN (or 0xffffffff) guards. */
class Buf {
  readonly n: number;
  private readonly base: Ptr;
  private readonly u32: boolean;
  constructor(n: number, values?: ArrayLike<number>, u32 = false) {
    this.n = n;
    this.u32 = u32;
    this.base = alloc((n + 2 * GUARD) * 4, 'property test');
    const all = this.all();
    all.fill(u32 ? 0xffffffff : NaN);
    if (values) this.view().set(values);
  }
  private all(): Float32Array | Uint32Array {
    return this.u32
      ? new Uint32Array(heap(), this.base, this.n + 2 * GUARD)
      : new Float32Array(heap(), this.base, this.n + 2 * GUARD);
  }
  get ptr(): Ptr {
    return (this.base + GUARD * 4) as Ptr;
  }
  view(): Float32Array | Uint32Array {
    return this.all().subarray(GUARD, GUARD + this.n);
  }
  /** A copy of the values; throws if a guard was overwritten. */
  read(): Float64Array {
    const all = this.all();
    for (let i = 0; i < GUARD; i++) {
      for (const j of [i, GUARD + this.n + i]) {
        const ok = this.u32 ? all[j] === 0xffffffff : Number.isNaN(all[j]);
        if (!ok)
          throw new Error(
            `guard element ${j < GUARD ? j - GUARD : j - GUARD - this.n} was overwritten`,
          );
      }
    }
    return Float64Array.from(this.view());
  }
  free(): void {
    free(this.base, (this.n + 2 * GUARD) * 4);
  }
}

/** Runs `f` with buffers, freeing them afterwards. */
function withBufs<T>(bufs: Buf[], f: () => T): T {
  try {
    return f();
  } finally {
    for (const b of bufs) b.free();
  }
}

/** Throws unless |got[i] - want[i]| <= bound(i) everywhere (NaN never passes). */
function within(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  bound: (i: number) => number,
  what: string,
): void {
  if (got.length !== want.length)
    throw new Error(`${what}: length ${got.length}, want ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= bound(i)) && !(got[i] === want[i])) {
      throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]} (bound ${bound(i)})`);
    }
  }
}

/** Accumulates a float64 reference sum per output element, with Σ|term| and the term count. */
class Acc {
  readonly val: Float64Array;
  readonly mag: Float64Array;
  readonly cnt: Float64Array;
  constructor(n: number, init?: ArrayLike<number>) {
    this.val = new Float64Array(n);
    this.mag = new Float64Array(n);
    this.cnt = new Float64Array(n);
    if (init) for (let i = 0; i < n; i++) this.add(i, init[i]!);
  }
  add(i: number, v: number): void {
    this.val[i] += v;
    this.mag[i] += Math.abs(v);
    this.cnt[i]! += 1;
  }
  check(got: ArrayLike<number>, what: string): void {
    within(
      got,
      this.val,
      (i) => 2 * (this.cnt[i]! + 1) * U * this.mag[i]! + (this.cnt[i]! + 1) * SUB,
      what,
    );
  }
}

const f32s = (n: number, min = -4, max = 4): fc.Arbitrary<Float32Array> =>
  fc.float32Array({
    minLength: n,
    maxLength: n,
    min: Math.fround(min),
    max: Math.fround(max),
    noNaN: true,
    noDefaultInfinity: true,
  });

function prop<T>(name: string, arb: fc.Arbitrary<T>, check: (t: T) => void): void {
  const runs = tier(100, 10_000);
  it(
    `${name} (${runs} runs)`,
    () => {
      fc.assert(
        fc.property(arb, (t) => {
          check(t);
        }),
        fcParams(100, 10_000),
      );
      totalRuns += runs;
    },
    TIMEOUT,
  );
}

const K = (): Kernels => kernels();

it('every kernel export of the .wasm has a property below', () => {
  // abi_version and the allocator pair are exercised by every test; everything else computes.
  const source = readFileSync(new URL(import.meta.url), 'utf8');
  const exports = WebAssembly.Module.exports(compiledModule())
    .filter((e) => e.kind === 'function')
    .map((e) => e.name);
  const untested = exports.filter(
    (name) =>
      !['abi_version', 'tl_alloc', 'tl_free'].includes(name) &&
      !new RegExp(`\\.${name}\\b`).test(source),
  );
  expect(untested).toEqual([]);
});
const dim = (lo: number, hi: number) => fc.integer({ min: lo, max: hi });

describe('GEMM and Linear kernels', () => {
  // Strides of the transpose forms (a stored [m, k] or [k, m], b [k, n] or [n, k], rows padded by
  // `pad`), or any strides at all, 0 included (rows of a, or columns of b, read the same data).
  const extent = (rows: number, cols: number, rs: number, cs: number) =>
    rows === 0 || cols === 0 ? 0 : (rows - 1) * rs + (cols - 1) * cs + 1;
  const gemmArb = fc
    .record({
      m: dim(0, 19),
      k: dim(0, 19),
      n: dim(0, 19),
      form: fc.constantFrom('nn', 'nt', 'tn', 'tt', 'any'),
      pad: dim(0, 3),
      any: fc.tuple(dim(0, 24), dim(0, 24), dim(0, 24), dim(0, 24)),
      beta: fc.constantFrom(0, 1),
    })
    .map(({ m, k, n, form, pad, any, beta }) => {
      const [ta, tb] = [form[0] === 't', form[1] === 't'];
      const s: [number, number, number, number] =
        form === 'any'
          ? any
          : [ta ? 1 : k + pad, ta ? m + pad : 1, tb ? 1 : n + pad, tb ? k + pad : 1];
      return { m, k, n, form, beta, s };
    })
    .chain((d) =>
      fc.record({
        d: fc.constant(d),
        a: f32s(extent(d.m, d.k, d.s[0], d.s[1])),
        b: f32s(extent(d.k, d.n, d.s[2], d.s[3])),
        c: f32s(d.m * d.n),
      }),
    );

  prop(
    'gemm: c = op(a)·op(b) (+ c when beta = 1), any strides',
    gemmArb,
    ({
      d: {
        m,
        k,
        n,
        form,
        beta,
        s: [rsa, csa, rsb, csb],
      },
      a,
      b,
      c,
    }) => {
      const ref = new Acc(m * n, beta === 1 ? c : undefined);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++)
          for (let p = 0; p < k; p++)
            ref.add(i * n + j, a[i * rsa + p * csa]! * b[p * rsb + j * csb]!);
      const [A, B, C] = [
        new Buf(a.length, a),
        new Buf(b.length, b),
        new Buf(m * n, beta === 1 ? c : undefined),
      ];
      withBufs([A, B, C], () => {
        K().gemm(A.ptr, B.ptr, C.ptr, m, k, n, rsa, csa, rsb, csb, beta);
        ref.check(C.read(), `gemm ${form} strides ${[rsa, csa, rsb, csb]} beta ${beta}`);
      });
    },
  );

  const lin = fc.record({ batch: dim(1, 9), nIn: dim(1, 21), nOut: dim(1, 21) }).chain((d) =>
    fc.record({
      d: fc.constant(d),
      x: f32s(d.batch * d.nIn),
      w: f32s(d.nIn * d.nOut),
      b: f32s(d.nOut),
      delta: f32s(d.batch * d.nOut),
      gw: f32s(d.nIn * d.nOut),
    }),
  );
  prop(
    'linear_forward / backward_delta / backward_update_gradient',
    lin,
    ({ d: { batch, nIn, nOut }, x, w, b, delta, gw }) => {
      const y = new Acc(batch * nOut);
      const dx = new Acc(batch * nIn);
      const gW = new Acc(nIn * nOut, gw);
      const gB = new Acc(nOut, b);
      for (let r = 0; r < batch; r++) {
        for (let o = 0; o < nOut; o++) {
          y.add(r * nOut + o, b[o]!);
          gB.add(o, delta[r * nOut + o]!);
          for (let i = 0; i < nIn; i++) {
            y.add(r * nOut + o, x[r * nIn + i]! * w[i * nOut + o]!);
            dx.add(r * nIn + i, delta[r * nOut + o]! * w[i * nOut + o]!);
            gW.add(i * nOut + o, x[r * nIn + i]! * delta[r * nOut + o]!);
          }
        }
      }
      const bufs = [
        new Buf(batch * nIn, x),
        new Buf(batch * nOut),
        new Buf(nIn * nOut, w),
        new Buf(nOut, b),
        new Buf(batch * nOut, delta),
        new Buf(batch * nIn),
        new Buf(nIn * nOut, gw),
        new Buf(nOut, b),
      ];
      const [X, Y, W, B, D, DX, GW, GB] = bufs as [Buf, Buf, Buf, Buf, Buf, Buf, Buf, Buf];
      withBufs(bufs, () => {
        K().linear_forward(X.ptr, Y.ptr, W.ptr, B.ptr, batch, nIn, nOut);
        y.check(Y.read(), 'linear_forward');
        K().linear_backward_delta(D.ptr, DX.ptr, W.ptr, batch, nIn, nOut);
        dx.check(DX.read(), 'linear_backward_delta');
        K().linear_backward_update_gradient(X.ptr, D.ptr, GW.ptr, GB.ptr, batch, nIn, nOut, 1);
        gW.check(GW.read(), 'linear gradWeight');
        gB.check(GB.read(), 'linear gradBias');
      });
    },
  );

  prop(
    'linear_backward_update_gradient with beta = 0 (overwrites: gradW = xᵀ delta, gradB = Σ delta)',
    lin,
    ({ d: { batch, nIn, nOut }, x, delta }) => {
      const gW = new Acc(nIn * nOut);
      const gB = new Acc(nOut);
      for (let r = 0; r < batch; r++) {
        for (let o = 0; o < nOut; o++) {
          gB.add(o, delta[r * nOut + o]!);
          for (let i = 0; i < nIn; i++)
            gW.add(i * nOut + o, x[r * nIn + i]! * delta[r * nOut + o]!);
        }
      }
      // The old gradients are NaN: none may leak into the result.
      const bufs = [
        new Buf(batch * nIn, x),
        new Buf(batch * nOut, delta),
        new Buf(nIn * nOut),
        new Buf(nOut),
      ];
      const [X, D, GW, GB] = bufs as [Buf, Buf, Buf, Buf];
      withBufs(bufs, () => {
        K().linear_backward_update_gradient(X.ptr, D.ptr, GW.ptr, GB.ptr, batch, nIn, nOut, 0);
        gW.check(GW.read(), 'linear gradWeight beta 0');
        gB.check(GB.read(), 'linear gradBias beta 0');
      });
    },
  );
});

describe('convolution and pooling kernels', () => {
  // Conv1D is Conv2D with height = kH = 1, so one reference serves both.
  interface ConvDims {
    batch: number;
    h: number;
    w: number;
    cin: number;
    cout: number;
    kh: number;
    kw: number;
    s: number;
  }
  const outLen = (n: number, k: number, s: number) => Math.floor((n - k) / s) + 1;
  function convRef(
    d: ConvDims,
    x: Float32Array,
    wt: Float32Array,
    b: Float32Array,
    delta: Float32Array,
    gw: Float32Array,
  ) {
    const { batch, h, w, cin, cout, kh, kw, s } = d;
    const oh = outLen(h, kh, s),
      ow = outLen(w, kw, s);
    const y = new Acc(batch * oh * ow * cout),
      dx = new Acc(batch * h * w * cin);
    const gW = new Acc(kh * kw * cin * cout, gw),
      gB = new Acc(cout, b);
    const gW0 = new Acc(kh * kw * cin * cout),
      gB0 = new Acc(cout);
    for (let n = 0; n < batch; n++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const yo = ((n * oh + i) * ow + j) * cout;
          for (let o = 0; o < cout; o++) {
            y.add(yo + o, b[o]!);
            gB.add(o, delta[yo + o]!);
            gB0.add(o, delta[yo + o]!);
          }
          for (let p = 0; p < kh; p++)
            for (let q = 0; q < kw; q++)
              for (let c = 0; c < cin; c++) {
                const xi = ((n * h + i * s + p) * w + j * s + q) * cin + c;
                for (let o = 0; o < cout; o++) {
                  const wi = ((p * kw + q) * cin + c) * cout + o;
                  y.add(yo + o, x[xi]! * wt[wi]!);
                  dx.add(xi, delta[yo + o]! * wt[wi]!);
                  gW.add(wi, x[xi]! * delta[yo + o]!);
                  gW0.add(wi, x[xi]! * delta[yo + o]!);
                }
              }
        }
    return { y, dx, gW, gB, gW0, gB0, ny: batch * oh * ow * cout };
  }
  function convArb(twoD: boolean): fc.Arbitrary<{
    d: ConvDims;
    x: Float32Array;
    wt: Float32Array;
    b: Float32Array;
    delta: Float32Array;
    gw: Float32Array;
  }> {
    const dims = fc
      .record({
        batch: dim(1, 3),
        kh: twoD ? dim(1, 4) : fc.constant(1),
        kw: dim(1, 5),
        s: dim(1, 3),
        cin: dim(1, 5),
        cout: dim(1, 6),
        eh: twoD ? dim(0, 5) : fc.constant(0),
        ew: dim(0, 9),
      })
      .map(({ eh, ew, ...d }) => ({ ...d, h: d.kh + eh, w: d.kw + ew }));
    return dims.chain((d) => {
      const ny = d.batch * outLen(d.h, d.kh, d.s) * outLen(d.w, d.kw, d.s) * d.cout;
      return fc.record({
        d: fc.constant(d),
        x: f32s(d.batch * d.h * d.w * d.cin),
        wt: f32s(d.kh * d.kw * d.cin * d.cout),
        b: f32s(d.cout),
        delta: f32s(ny),
        gw: f32s(d.kh * d.kw * d.cin * d.cout),
      });
    });
  }
  for (const twoD of [false, true]) {
    const name = twoD ? 'conv2d' : 'conv1d';
    prop(
      `${name}_forward / backward_delta / backward_update_gradient (beta 1 and 0), any stride`,
      convArb(twoD),
      ({ d, x, wt, b, delta, gw }) => {
        const ref = convRef(d, x, wt, b, delta, gw);
        const { batch, h, w, cin, cout, kh, kw, s } = d;
        const k = K();
        const wlen = twoD
          ? k.conv2d_workspace_len(h, w, cin, cout, kh, kw, s)
          : k.conv1d_workspace_len(w, cin, cout, kw, s);
        const bufs = [
          new Buf(x.length, x),
          new Buf(ref.ny),
          new Buf(wt.length, wt),
          new Buf(cout, b),
          new Buf(ref.ny, delta),
          new Buf(x.length),
          new Buf(Math.max(wlen, 1)),
          new Buf(gw.length, gw),
          new Buf(cout, b),
          new Buf(gw.length),
          new Buf(cout),
        ];
        const [X, Y, W, B, D, DX, WK, GW, GB, GW0, GB0] = bufs as [
          Buf,
          Buf,
          Buf,
          Buf,
          Buf,
          Buf,
          Buf,
          Buf,
          Buf,
          Buf,
          Buf,
        ];
        withBufs(bufs, () => {
          if (twoD) {
            k.conv2d_forward(X.ptr, Y.ptr, W.ptr, B.ptr, batch, h, w, cin, cout, kh, kw, s);
            k.conv2d_backward_delta(
              D.ptr,
              DX.ptr,
              W.ptr,
              WK.ptr,
              batch,
              h,
              w,
              cin,
              cout,
              kh,
              kw,
              s,
            );
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
              s,
              1,
            );
            k.conv2d_backward_update_gradient(
              X.ptr,
              D.ptr,
              GW0.ptr,
              GB0.ptr,
              batch,
              h,
              w,
              cin,
              cout,
              kh,
              kw,
              s,
              0,
            );
          } else {
            k.conv1d_forward(X.ptr, Y.ptr, W.ptr, B.ptr, batch, w, cin, cout, kw, s);
            k.conv1d_backward_delta(D.ptr, DX.ptr, W.ptr, WK.ptr, batch, w, cin, cout, kw, s);
            k.conv1d_backward_update_gradient(
              X.ptr,
              D.ptr,
              GW.ptr,
              GB.ptr,
              batch,
              w,
              cin,
              cout,
              kw,
              s,
              1,
            );
            k.conv1d_backward_update_gradient(
              X.ptr,
              D.ptr,
              GW0.ptr,
              GB0.ptr,
              batch,
              w,
              cin,
              cout,
              kw,
              s,
              0,
            );
          }
          ref.y.check(Y.read(), `${name}_forward`);
          ref.dx.check(DX.read(), `${name}_backward_delta`);
          ref.gW.check(GW.read(), `${name} gradWeight`);
          ref.gB.check(GB.read(), `${name} gradBias`);
          ref.gW0.check(GW0.read(), `${name} gradWeight beta 0`);
          ref.gB0.check(GB0.read(), `${name} gradBias beta 0`);
          WK.read(); // the workspace guards too
        });
      },
    );
  }

  for (const twoD of [false, true]) {
    const name = twoD ? 'maxpool2d_forward' : 'maxpool1d_forward';
    const arb = fc
      .record({
        batch: dim(1, 3),
        kh: twoD ? dim(1, 4) : fc.constant(1),
        kw: dim(1, 5),
        s: dim(1, 4),
        c: dim(1, 6),
        eh: twoD ? dim(0, 5) : fc.constant(0),
        ew: dim(0, 9),
        ties: fc.boolean(),
      })
      .chain((d) => {
        const n = d.batch * (d.kh + d.eh) * (d.kw + d.ew) * d.c;
        // With `ties`, values come from a handful of small integers, so windows have equal maxima.
        const values = d.ties
          ? fc
              .array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n })
              .map((a) => Float32Array.from(a))
          : f32s(n);
        return fc.record({ d: fc.constant(d), x: values });
      });
    prop(`${name}: exact max and first arg-max, any stride, with ties`, arb, ({ d, x }) => {
      const { batch, kh, kw, s, c } = d;
      const h = kh + d.eh,
        w = kw + d.ew;
      const oh = outLen(h, kh, s),
        ow = outLen(w, kw, s);
      const ny = batch * oh * ow * c;
      const want = new Float64Array(ny),
        arg = new Float64Array(ny);
      for (let n = 0; n < batch; n++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++)
            for (let ch = 0; ch < c; ch++) {
              let best = -Infinity,
                at = -1;
              for (let p = 0; p < kh; p++)
                for (let q = 0; q < kw; q++) {
                  const xi = ((n * h + i * s + p) * w + j * s + q) * c + ch;
                  if (x[xi]! > best) {
                    best = x[xi]!;
                    at = xi;
                  }
                }
              want[((n * oh + i) * ow + j) * c + ch] = best;
              arg[((n * oh + i) * ow + j) * c + ch] = at;
            }
      const [X, Y, A] = [new Buf(x.length, x), new Buf(ny), new Buf(ny, undefined, true)];
      withBufs([X, Y, A], () => {
        if (twoD) K().maxpool2d_forward(X.ptr, Y.ptr, A.ptr, batch, h, w, c, kh, kw, s);
        else K().maxpool1d_forward(X.ptr, Y.ptr, A.ptr, batch, w, c, kw, s);
        within(Y.read(), want, () => 0, name);
        within(A.read(), arg, () => 0, `${name} argmax`);
      });
    });
  }

  const avg = fc
    .record({
      batch: dim(1, 3),
      kh: dim(1, 4),
      kw: dim(1, 5),
      s: dim(1, 4),
      c: dim(1, 9),
      eh: dim(0, 5),
      ew: dim(0, 9),
      oneD: fc.boolean(),
    })
    .map((d) => (d.oneD ? { ...d, kh: 1, eh: 0 } : d))
    .chain((d) => {
      const h = d.kh + d.eh,
        w = d.kw + d.ew;
      const ny = d.batch * outLen(h, d.kh, d.s) * outLen(w, d.kw, d.s) * d.c;
      return fc.record({
        d: fc.constant({ ...d, h, w }),
        x: f32s(d.batch * h * w * d.c),
        delta: f32s(ny),
      });
    });
  prop(
    'avgpool_forward / avgpool_backward_delta (1-D as height 1), any stride',
    avg,
    ({ d, x, delta }) => {
      const { batch, h, w, c, kh, kw, s } = d;
      const oh = outLen(h, kh, s),
        ow = outLen(w, kw, s);
      const y = new Acc(delta.length),
        dx = new Acc(x.length);
      for (let n = 0; n < batch; n++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++)
            for (let ch = 0; ch < c; ch++) {
              const o = ((n * oh + i) * ow + j) * c + ch;
              for (let p = 0; p < kh; p++)
                for (let q = 0; q < kw; q++) {
                  const a = ((n * h + i * s + p) * w + j * s + q) * c + ch;
                  y.add(o, x[a]! / (kh * kw));
                  dx.add(a, delta[o]! / (kh * kw));
                }
            }
      const [X, Y, D, DX] = [
        new Buf(x.length, x),
        new Buf(delta.length),
        new Buf(delta.length, delta),
        new Buf(x.length),
      ];
      withBufs([X, Y, D, DX], () => {
        K().avgpool_forward(X.ptr, Y.ptr, batch, h, w, c, kh, kw, s);
        y.check(Y.read(), 'avgpool_forward');
        K().avgpool_backward_delta(D.ptr, DX.ptr, batch, h, w, c, kh, kw, s);
        dx.check(DX.read(), 'avgpool_backward_delta');
      });
    },
  );

  const pad = fc
    .record({
      batch: dim(0, 3),
      h: dim(1, 5),
      w: dim(1, 6),
      c: dim(1, 9),
      top: dim(0, 3),
      bottom: dim(0, 3),
      left: dim(0, 3),
      right: dim(0, 3),
    })
    .chain((d) =>
      fc.record({
        d: fc.constant(d),
        x: f32s(d.batch * d.h * d.w * d.c),
        delta: f32s(d.batch * (d.top + d.h + d.bottom) * (d.left + d.w + d.right) * d.c),
      }),
    );
  prop('pad_forward / pad_backward_delta (exact copies and zeros)', pad, ({ d, x, delta }) => {
    const { batch, h, w, c, top, bottom, left, right } = d;
    const oh = top + h + bottom,
      ow = left + w + right;
    const y = new Float64Array(delta.length),
      dx = new Float64Array(x.length);
    for (let n = 0; n < batch; n++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let ch = 0; ch < c; ch++) {
            const a = ((n * h + i) * w + j) * c + ch,
              o = ((n * oh + top + i) * ow + left + j) * c + ch;
            y[o] = x[a]!;
            dx[a] = delta[o]!;
          }
    const [X, Y, D, DX] = [
      new Buf(x.length, x),
      new Buf(delta.length),
      new Buf(delta.length, delta),
      new Buf(x.length),
    ];
    withBufs([X, Y, D, DX], () => {
      K().pad_forward(X.ptr, Y.ptr, batch, h, w, c, top, bottom, left, right);
      within(Y.read(), y, () => 0, 'pad_forward');
      K().pad_backward_delta(D.ptr, DX.ptr, batch, h, w, c, top, bottom, left, right);
      within(DX.read(), dx, () => 0, 'pad_backward_delta');
    });
  });

  const drop = dim(0, 70).chain((n) =>
    fc.record({
      x: f32s(n),
      delta: f32s(n),
      keep: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      p: fc.float({ min: 0, max: Math.fround(0.9), noNaN: true }),
    }),
  );
  prop(
    'dropout_forward / dropout_backward_delta: x·mask, delta·mask (exact)',
    drop,
    ({ x, delta, keep, p }) => {
      const scale = Math.fround(1 / (1 - p));
      const mask = keep.map((k) => (k ? scale : 0));
      const [X, D, M, Y, DX] = [
        new Buf(x.length, x),
        new Buf(delta.length, delta),
        new Buf(mask.length, mask),
        new Buf(x.length),
        new Buf(x.length),
      ];
      withBufs([X, D, M, Y, DX], () => {
        K().dropout_forward(X.ptr, M.ptr, Y.ptr, x.length);
        within(
          Y.read(),
          Array.from(x, (v, i) => Math.fround(v * mask[i]!)),
          () => 0,
          'dropout_forward',
        );
        K().dropout_backward_delta(D.ptr, M.ptr, DX.ptr, x.length);
        within(
          DX.read(),
          Array.from(delta, (v, i) => Math.fround(v * mask[i]!)),
          () => 0,
          'dropout_backward_delta',
        );
      });
    },
  );

  const up = fc
    .record({
      batch: dim(1, 3),
      h: dim(1, 5),
      w: dim(1, 6),
      c: dim(1, 5),
      sh: dim(1, 3),
      sw: dim(1, 4),
    })
    .chain((d) =>
      fc.record({
        d: fc.constant(d),
        x: f32s(d.batch * d.h * d.w * d.c),
        delta: f32s(d.batch * d.h * d.sh * d.w * d.sw * d.c),
      }),
    );
  prop(
    'upsample_forward (exact copies) / upsample_backward_delta (sums of sh·sw deltas)',
    up,
    ({ d, x, delta }) => {
      const { batch, h, w, c, sh, sw } = d;
      const oh = h * sh,
        ow = w * sw;
      const want = new Float64Array(batch * oh * ow * c);
      const dx = new Acc(x.length);
      for (let n = 0; n < batch; n++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++)
            for (let ch = 0; ch < c; ch++) {
              const src = ((n * h + Math.floor(i / sh)) * w + Math.floor(j / sw)) * c + ch;
              const dst = ((n * oh + i) * ow + j) * c + ch;
              want[dst] = x[src]!;
              dx.add(src, delta[dst]!);
            }
      const [X, Y, D, DX] = [
        new Buf(x.length, x),
        new Buf(want.length),
        new Buf(delta.length, delta),
        new Buf(x.length),
      ];
      withBufs([X, Y, D, DX], () => {
        K().upsample_forward(X.ptr, Y.ptr, batch, h, w, c, sh, sw);
        within(Y.read(), want, () => 0, 'upsample_forward');
        K().upsample_backward_delta(D.ptr, DX.ptr, batch, h, w, c, sh, sw);
        dx.check(DX.read(), 'upsample_backward_delta');
      });
    },
  );

  const scatter = fc.record({ nIn: dim(1, 40), nOut: dim(0, 40) }).chain((d) =>
    fc.record({
      d: fc.constant(d),
      delta: f32s(d.nOut),
      arg: fc.array(fc.integer({ min: 0, max: d.nIn - 1 }), {
        minLength: d.nOut,
        maxLength: d.nOut,
      }),
    }),
  );
  prop(
    'maxpool_backward_delta: dx = 0, dx[argmax[i]] += delta[i]',
    scatter,
    ({ d: { nIn, nOut }, delta, arg }) => {
      const ref = new Acc(nIn);
      arg.forEach((a, i) => ref.add(a, delta[i]!));
      const [D, A, DX] = [new Buf(nOut, delta), new Buf(nOut, arg, true), new Buf(nIn)];
      withBufs([D, A, DX], () => {
        K().maxpool_backward_delta(D.ptr, A.ptr, DX.ptr, nOut, nIn);
        ref.check(DX.read(), 'maxpool_backward_delta');
      });
    },
  );
});

describe('activation kernels', () => {
  const n = dim(0, 70);
  const xs = n.chain((len) => fc.record({ x: f32s(len, -120, 120), d: f32s(len) }));
  const sig = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
  const elementwise: Array<
    [string, (v: number) => number, (k: Kernels) => (x: Ptr, y: Ptr, n: number) => void, number]
  > = [
    ['tanh_forward', Math.tanh, (k) => k.tanh_forward, 8 * U],
    ['sigmoid_forward', sig, (k) => k.sigmoid_forward, 8 * U],
    ['relu_forward', (v) => (v > 0 ? v : 0), (k) => k.relu_forward, 0],
  ];
  for (const [name, f, pick, rel] of elementwise) {
    prop(`${name}: within ${rel === 0 ? '0' : '4'} ulp of float64`, xs, ({ x }) => {
      const want = Array.from(x, f);
      const [X, Y] = [new Buf(x.length, x), new Buf(x.length)];
      withBufs([X, Y], () => {
        pick(K())(X.ptr, Y.ptr, x.length);
        within(Y.read(), want, (i) => rel * Math.abs(want[i]!) + (rel && TINY), name);
      });
    });
  }
  const backward: Array<
    [
      string,
      (y: number, d: number) => number,
      (y: number, d: number) => number,
      (k: Kernels) => (y: Ptr, d: Ptr, dx: Ptr, n: number) => void,
    ]
  > = [
    // Each is a 3-4 operation formula: a few u of the magnitudes that enter it.
    [
      'tanh_backward_delta',
      (y, d) => d * (1 - y * y),
      (y, d) => 4 * U * Math.abs(d) * (1 + y * y),
      (k) => k.tanh_backward_delta,
    ],
    [
      'sigmoid_backward_delta',
      (y, d) => d * y * (1 - y),
      (y, d) => 4 * U * Math.abs(d) * (Math.abs(y) + y * y),
      (k) => k.sigmoid_backward_delta,
    ],
    ['relu_backward_delta', (x, d) => (x > 0 ? d : 0), () => 0, (k) => k.relu_backward_delta],
  ];
  for (const [name, f, bound, pick] of backward) {
    prop(name, xs, ({ x, d }) => {
      const y = name === 'relu_backward_delta' ? x : x.map((v) => Math.fround(v / 120));
      const want = Array.from(y, (v, i) => f(v, d[i]!));
      const [Y, D, DX] = [new Buf(y.length, y), new Buf(d.length, d), new Buf(y.length)];
      withBufs([Y, D, DX], () => {
        pick(K())(Y.ptr, D.ptr, DX.ptr, y.length);
        within(DX.read(), want, (i) => bound(y[i]!, d[i]!) + (bound(1, 1) && TINY), name);
      });
    });
  }

  const rows = fc.record({ rows: dim(0, 6), cols: dim(1, 21) }).chain((d) =>
    fc.record({
      d: fc.constant(d),
      x: f32s(d.rows * d.cols, -100, 100),
      delta: f32s(d.rows * d.cols),
      y: f32s(d.rows * d.cols, 0, 1),
    }),
  );
  prop(
    'softmax_forward: rows of probabilities, stable for logits up to ±100',
    rows,
    ({ d: { rows: r, cols }, x }) => {
      const want = new Float64Array(x.length),
        bound = new Float64Array(x.length);
      for (let i = 0; i < r; i++) {
        const row = x.subarray(i * cols, (i + 1) * cols);
        const max = Math.max(...row);
        const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
        // exp(x - max) carries the rounding of x - max (|x - max|·u) and its own 4 ulp; the sum adds cols·u.
        row.forEach((v, j) => {
          want[i * cols + j] = Math.exp(v - max) / sum;
          bound[i * cols + j] = 2 * (cols + 8 + Math.abs(v - max)) * U * want[i * cols + j]! + TINY;
        });
      }
      const [X, Y] = [new Buf(x.length, x), new Buf(x.length)];
      withBufs([X, Y], () => {
        K().softmax_forward(X.ptr, Y.ptr, r, cols);
        within(Y.read(), want, (i) => bound[i]!, 'softmax_forward');
      });
    },
  );
  prop(
    'softmax_backward_delta: y ⊙ (delta - Σ delta·y)',
    rows,
    ({ d: { rows: r, cols }, y, delta }) => {
      const want = new Float64Array(y.length),
        bound = new Float64Array(y.length);
      for (let i = 0; i < r; i++) {
        let s = 0,
          m = 0;
        for (let j = 0; j < cols; j++) {
          s += delta[i * cols + j]! * y[i * cols + j]!;
          m += Math.abs(delta[i * cols + j]! * y[i * cols + j]!);
        }
        for (let j = 0; j < cols; j++) {
          const k = i * cols + j;
          want[k] = y[k]! * (delta[k]! - s);
          bound[k] = 2 * (cols + 4) * U * y[k]! * (Math.abs(delta[k]!) + m) + TINY;
        }
      }
      const [Y, D, DX] = [new Buf(y.length, y), new Buf(delta.length, delta), new Buf(y.length)];
      withBufs([Y, D, DX], () => {
        K().softmax_backward_delta(Y.ptr, D.ptr, DX.ptr, r, cols);
        within(DX.read(), want, (i) => bound[i]!, 'softmax_backward_delta');
      });
    },
  );
});

describe('loss kernels', () => {
  type LossRef = (
    y: Float32Array,
    p: Float32Array,
    rows: number,
    cols: number,
  ) => { value: number; bound: number; grad: Float64Array; gradBound: Float64Array };
  const clog = (v: number) => Math.max(Math.log(v), -100);
  const losses: Array<
    [
      string,
      (k: Kernels) => [Kernels['mse_loss_forward'], Kernels['mse_loss_backward']],
      [number, number],
      [number, number],
      LossRef,
    ]
  > = [
    [
      'mse_loss',
      (k) => [k.mse_loss_forward, k.mse_loss_backward],
      [-4, 4],
      [-4, 4],
      (y, p, rows) => {
        let value = 0,
          mag = 0;
        const grad = new Float64Array(p.length),
          gradBound = new Float64Array(p.length);
        p.forEach((v, i) => {
          const t = (v - y[i]!) ** 2;
          value += t;
          mag += t;
          grad[i] = (2 * (v - y[i]!)) / rows;
          gradBound[i] = 4 * U * Math.abs(grad[i]!) + TINY;
        });
        return {
          value: value / rows,
          bound: (2 * (p.length + 4) * U * mag) / rows + TINY,
          grad,
          gradBound,
        };
      },
    ],
    [
      'bce_loss',
      (k) => [k.bce_loss_forward, k.bce_loss_backward],
      [0, 1],
      [0, 1],
      (y, p, rows) => {
        let value = 0,
          mag = 0;
        const grad = new Float64Array(p.length),
          gradBound = new Float64Array(p.length);
        p.forEach((v, i) => {
          const t = -(y[i]! * clog(v) + (1 - y[i]!) * clog(1 - v));
          value += t;
          // log's 4 ulp (relative), plus 1 - yhat rounded in float32 before the log: an absolute
          // error of u·|1 - y| (so 1 - 5.6e-17 = 1 gives 0 for a true 5.6e-17, as PyTorch's float32).
          mag += Math.abs(t) + Math.abs(1 - y[i]!);
          grad[i] = (v - y[i]!) / Math.max(v * (1 - v), 1e-12) / rows;
          gradBound[i] = 8 * U * Math.abs(grad[i]!) + TINY;
        });
        return {
          value: value / rows,
          bound: (2 * (p.length + 8) * U * mag) / rows + TINY,
          grad,
          gradBound,
        };
      },
    ],
    [
      'cross_entropy_loss',
      (k) => [k.cross_entropy_loss_forward, k.cross_entropy_loss_backward],
      [0, 1],
      [0, 1],
      (y, p, rows) => {
        let value = 0,
          mag = 0;
        const grad = new Float64Array(p.length),
          gradBound = new Float64Array(p.length);
        p.forEach((v, i) => {
          const t = -y[i]! * clog(v);
          value += t;
          mag += Math.abs(t);
          // The clamped forward's derivative: 0 where its log is clamped (v < 27·2^-149, ln < -100).
          grad[i] = v >= 27 * 2 ** -149 ? -y[i]! / rows / v : 0;
          gradBound[i] = 4 * U * Math.abs(grad[i]!) + TINY;
          // Within rounding of f32's largest value the kernel may overflow to -inf, or not.
          if (Math.abs(grad[i]!) * (1 - 4 * U) > F32_MAX)
            [grad[i], gradBound[i]] = [-Infinity, Infinity];
        });
        return {
          value: value / rows,
          bound: (2 * (p.length + 8) * U * mag) / rows + TINY,
          grad,
          gradBound,
        };
      },
    ],
    [
      'log_softmax_cross_entropy',
      (k) => [k.log_softmax_cross_entropy_forward, k.log_softmax_cross_entropy_backward],
      [0, 1],
      [-100, 100],
      (y, z, rows, cols) => {
        let value = 0,
          mag = 0;
        const grad = new Float64Array(z.length),
          gradBound = new Float64Array(z.length);
        for (let r = 0; r < rows; r++) {
          const row = z.subarray(r * cols, (r + 1) * cols);
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
          let ysum = 0;
          for (let j = 0; j < cols; j++) ysum += y[r * cols + j]!;
          for (let j = 0; j < cols; j++) {
            const k = r * cols + j;
            value -= y[k]! * (row[j]! - lse);
            mag += Math.abs(y[k]!) * (Math.abs(row[j]!) + Math.abs(lse) + 1);
            const pj = Math.exp(row[j]! - lse);
            grad[k] = (pj * ysum - y[k]!) / rows;
            gradBound[k] =
              (2 * (cols + 8 + Math.abs(row[j]! - max)) * U * (pj * ysum + Math.abs(y[k]!))) /
                rows +
              TINY;
          }
        }
        return {
          value: value / rows,
          bound: (2 * (cols + 8) * U * mag) / rows + TINY,
          grad,
          gradBound,
        };
      },
    ],
  ];
  for (const [name, pick, yRange, pRange, ref] of losses) {
    const arb = fc.record({ rows: dim(1, 6), cols: dim(1, 21) }).chain((d) =>
      fc.record({
        d: fc.constant(d),
        y: f32s(d.rows * d.cols, ...yRange),
        p: f32s(d.rows * d.cols, ...pRange),
      }),
    );
    prop(`${name}_forward / _backward`, arb, ({ d: { rows, cols }, y, p }) => {
      const want = ref(y, p, rows, cols);
      const [forward, backward] = pick(K());
      const [Y, P, G] = [new Buf(y.length, y), new Buf(p.length, p), new Buf(p.length)];
      withBufs([Y, P, G], () => {
        const value = forward(Y.ptr, P.ptr, rows, cols);
        within(
          [value],
          [want.value],
          () => want.bound + Math.abs(want.value) * U,
          `${name}_forward`,
        );
        backward(Y.ptr, P.ptr, G.ptr, rows, cols);
        within(G.read(), want.grad, (i) => want.gradBound[i]!, `${name}_backward`);
        Y.read();
        P.read();
      });
    });
  }
});

describe('utility and optimiser kernels', () => {
  const vec = dim(0, 70).chain((n) =>
    fc.record({
      a: f32s(n),
      b: f32s(n),
      c: f32s(n),
      d: f32s(n, 0, 4),
      step: fc.float({ min: Math.fround(-2), max: Math.fround(2), noNaN: true }),
      h1: fc.float({ min: 0, max: Math.fround(0.999), noNaN: true }),
      h2: fc.float({ min: 0, max: Math.fround(0.999), noNaN: true }),
      bad: fc.array(fc.tuple(fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity, 5, -5)), {
        maxLength: 5,
      }),
    }),
  );
  const fr = Math.fround;

  prop('sgd_update: param -= step·grad (exact)', vec, ({ a: g, b: p, step }) => {
    const want = Array.from(p, (v, i) => fr(v - fr(g[i]! * step)));
    const [G, P] = [new Buf(g.length, g), new Buf(p.length, p)];
    withBufs([G, P], () => {
      K().sgd_update(G.ptr, P.ptr, p.length, step);
      within(P.read(), want, () => 0, 'sgd_update');
    });
  });
  prop('fill_zero, non_finite_count and count_outside (exact counts)', vec, ({ a, bad }) => {
    const x = a.slice();
    for (const [i, v] of bad) if (x.length > 0) x[i % x.length] = v;
    const nonFinite = Array.from(x).filter((v) => !Number.isFinite(v)).length;
    const outside = Array.from(x).filter((v) => !(v >= -4.5 && v <= 4.5)).length;
    const X = new Buf(x.length, x);
    withBufs([X], () => {
      expect(K().non_finite_count(X.ptr, x.length)).toBe(nonFinite);
      expect(K().count_outside(X.ptr, x.length, -4.5, 4.5)).toBe(outside);
      K().fill_zero(X.ptr, x.length);
      within(X.read(), new Float64Array(x.length), () => 0, 'fill_zero');
    });
  });
  const gather = fc.record({ src: dim(1, 12), rows: dim(0, 12), cols: dim(0, 9) }).chain((d) =>
    fc.record({
      d: fc.constant(d),
      x: f32s(d.src * d.cols),
      idx: fc.array(fc.integer({ min: 0, max: d.src - 1 }), {
        minLength: d.rows,
        maxLength: d.rows,
      }),
    }),
  );
  prop('gather_rows and one_hot (exact)', gather, ({ d: { src, rows, cols }, x, idx }) => {
    const want = idx.flatMap((r) => Array.from(x.subarray(r * cols, (r + 1) * cols)));
    const [S, I, D] = [new Buf(src * cols, x), new Buf(rows, idx, true), new Buf(rows * cols)];
    const labels = idx.map((v) => v % Math.max(cols, 1));
    const [L, O] = [new Buf(rows, labels), new Buf(rows * cols)];
    withBufs([S, I, D, L, O], () => {
      K().gather_rows(S.ptr, I.ptr, D.ptr, rows, cols);
      within(D.read(), want, () => 0, 'gather_rows');
      if (cols > 0) {
        K().one_hot(L.ptr, O.ptr, rows, cols);
        within(
          O.read(),
          labels.flatMap((l) => Array.from({ length: cols }, (_, j) => (j === l ? 1 : 0))),
          () => 0,
          'one_hot',
        );
      }
    });
  });

  // The optimiser updates (issue 4) against a Math.fround emulation in the kernels' operation order.
  type Raw = Record<string, (...args: number[]) => void>;
  const raw = (): Raw => kernels() as unknown as Raw;
  prop(
    'sgd_decay_update: param -= step·(grad + wd·param) (exact)',
    vec,
    ({ a: g, b: p, step, h1: wd }) => {
      const want = Array.from(p, (v, i) => fr(v - fr(fr(g[i]! + fr(v * wd)) * step)));
      const [G, P] = [new Buf(g.length, g), new Buf(p.length, p)];
      withBufs([G, P], () => {
        raw().sgd_decay_update!(G.ptr, P.ptr, p.length, step, wd);
        within(P.read(), want, () => 0, 'sgd_decay_update');
      });
    },
  );
  for (const nesterov of [0, 1]) {
    prop(
      `momentum_update${nesterov ? ' (Nesterov)' : ''} (exact)`,
      vec,
      ({ a: g, b: p, c: v, step, h1: mu, h2: wd }) => {
        const wantV = new Float64Array(p.length),
          wantP = new Float64Array(p.length);
        p.forEach((pv, i) => {
          const gi = fr(g[i]! + fr(pv * wd));
          const vi = fr(fr(v[i]! * mu) + gi);
          const d = nesterov ? fr(gi + fr(vi * mu)) : vi;
          wantV[i] = vi;
          wantP[i] = fr(pv - fr(d * step));
        });
        const [G, P, V] = [new Buf(g.length, g), new Buf(p.length, p), new Buf(v.length, v)];
        withBufs([G, P, V], () => {
          raw().momentum_update!(G.ptr, P.ptr, V.ptr, p.length, step, mu, wd, nesterov);
          within(V.read(), wantV, () => 0, 'momentum velocity');
          within(P.read(), wantP, () => 0, 'momentum param');
        });
      },
    );
  }
  prop('adam_update (exact)', vec, ({ a: g, b: p, c: m, d: v, step, h1: b1, h2: b2 }) => {
    const [eps, wd, ib2] = [fr(1e-8), fr(0.01), fr(1.5)];
    const c1 = fr(1 - b1),
      c2 = fr(1 - b2);
    const wantM = new Float64Array(p.length),
      wantV = new Float64Array(p.length),
      wantP = new Float64Array(p.length);
    p.forEach((pv, i) => {
      const gi = fr(g[i]! + fr(pv * wd));
      const mi = fr(fr(m[i]! * b1) + fr(gi * c1));
      const vi = fr(fr(v[i]! * b2) + fr(fr(gi * gi) * c2));
      const denom = fr(fr(fr(Math.sqrt(vi)) * ib2) + eps);
      wantM[i] = mi;
      wantV[i] = vi;
      wantP[i] = fr(pv - fr(fr(step * mi) / denom));
    });
    const [G, P, M, V] = [
      new Buf(g.length, g),
      new Buf(p.length, p),
      new Buf(m.length, m),
      new Buf(v.length, v),
    ];
    withBufs([G, P, M, V], () => {
      raw().adam_update!(G.ptr, P.ptr, M.ptr, V.ptr, p.length, step, b1, b2, eps, wd, ib2);
      within(M.read(), wantM, () => 0, 'adam m');
      within(V.read(), wantV, () => 0, 'adam v');
      within(P.read(), wantP, () => 0, 'adam param');
    });
  });
});
