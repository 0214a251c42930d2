// The browser bench (`npm run bench -- --backend webgpu --quick`) as a correctness run: every
// workload row trained on the WebGPU backend (SwiftShader's adapter on machines without a GPU)
// and on WASM in the same browser, their losses agreeing, and the software adapter's figures
// labelled as such. No speed is asserted.
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  LOSS_TOLERANCE,
  SWIFTSHADER_LABEL,
  runWebgpuBench,
  type WebgpuBenchReport,
} from '../bench/webgpu.js';

const IDS = ['W1', 'W2', 'W3', 'W4', 'W5', 'W6'];
const lines: string[] = [];
let report: WebgpuBenchReport;
let skipped: WebgpuBenchReport;

beforeAll(async () => {
  report = await runWebgpuBench({
    quick: true,
    workDir: 'build/bench-webgpu-test',
    outBase: null,
    log: (line) => lines.push(line),
  });
  skipped = await runWebgpuBench({
    quick: true,
    only: ['W2', 'W4'],
    withoutData: ['mnist'],
    noGemm: true,
    workDir: 'build/bench-webgpu-test',
    outBase: null,
    log: (line) => lines.push(line),
  });
}, 1_200_000);

describe('npm run bench -- --backend webgpu --quick', () => {
  it('has a row for every workload, each run on both backends or labelled skipped', () => {
    expect(report.workloads.map((w) => w.id)).toEqual(IDS);
    for (const w of report.workloads) {
      if (w.skipped !== undefined) {
        expect(['W2', 'W4', 'W6']).toContain(w.id);
        expect(w.skipped).toMatch(/^skipped: no mnist data/);
        expect(report.markdown).toContain(`| ${w.id} ${w.title} | skipped: no mnist data`);
        continue;
      }
      expect(w.error, `${w.id}: ${w.error}`).toBeUndefined();
      expect(w.gpu!.epochLoss.length).toBe(w.id === 'W6' ? 1 : 2);
      expect(w.wasm!.epochLoss.length).toBe(w.gpu!.epochLoss.length);
      expect(w.gpuRate).toBeGreaterThan(0);
      expect(w.wasmRate).toBeGreaterThan(0);
    }
  });

  it('trains to the same losses on the GPU as in WASM, within the stated tolerance', () => {
    const ran = report.workloads.filter((w) => w.skipped === undefined);
    expect(ran.length).toBeGreaterThan(0);
    for (const w of ran) {
      for (const [e, want] of w.wasm!.epochLoss.entries()) {
        expect(Number.isFinite(want) && want > 0).toBe(true);
        const got = w.gpu!.epochLoss[e]!;
        expect(Math.abs(got - want) / want, `${w.id} epoch ${e + 1}`).toBeLessThanOrEqual(
          LOSS_TOLERANCE,
        );
      }
      expect(w.lossOk).toBe(true);
    }
    expect(report.failures).toEqual([]);
    expect(report.markdown).toContain('Correctness: every run row agrees with WASM');
  });

  it('times the GEMM shapes on both backends', () => {
    expect(report.gemm.length).toBe(3);
    for (const g of report.gemm) {
      for (const side of [g.gpu, g.wasm]) {
        expect(side).not.toBeNull();
        for (const v of [side!.nn, side!.nt, side!.tn]) expect(v).toBeGreaterThan(0);
      }
    }
  });

  it('names the adapter, and labels every speed figure of a software adapter', () => {
    const a = report.adapter!;
    expect(a.vendor).not.toBe('');
    expect(report.markdown).toContain(`architecture '${a.architecture}'`);
    expect(lines.some((l) => l.startsWith(`adapter: vendor '${a.vendor}'`))).toBe(true);
    if (a.architecture !== 'swiftshader') return;
    expect(report.software).toBe(true);
    expect(report.label).toBe(SWIFTSHADER_LABEL);
    expect(report.markdown).toContain(`**${SWIFTSHADER_LABEL}.**`);
    const rows = report.markdown.split('\n').filter((l) => /^\| W\d .*ok \|$/.test(l));
    expect(rows.length).toBe(report.workloads.filter((w) => w.skipped === undefined).length);
    // The GPU figure and the ratio of each row.
    for (const row of rows) expect(row.split('(SwiftShader)').length - 1).toBe(2);
    expect(
      lines.filter((l) => l.includes('samples/s')).every((l) => l.includes(SWIFTSHADER_LABEL)),
    ).toBe(true);
  });

  it('labels the MNIST rows skipped when the data set is missing, and runs nothing for them', () => {
    expect(skipped.workloads.map((w) => [w.id, w.skipped])).toEqual([
      ['W2', 'skipped: no mnist data (left out by the caller)'],
      ['W4', 'skipped: no mnist data (left out by the caller)'],
    ]);
    expect(skipped.failures).toEqual([]);
    expect(skipped.markdown).toContain(
      '| W4 LeNet-style conv net on MNIST, batch 64 | skipped: no mnist data',
    );
  });
});

describe('bench/run.ts --backend', () => {
  it('refuses an unknown backend before running anything', () => {
    let out = '';
    let status = 0;
    try {
      execFileSync('npx', ['tsx', 'bench/run.ts', '--backend', 'cuda'], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (e) {
      const err = e as { status: number; stderr: string };
      status = err.status;
      out = err.stderr;
    }
    expect(status).toBe(2);
    expect(out).toContain("bench: expected --backend wasm or webgpu, got 'cuda'");
  });
});
