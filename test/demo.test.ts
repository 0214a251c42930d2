// End-to-end test of the demo (web/) in headless Chromium: the page trains the default conv net in
// its worker while a main-thread timer keeps firing and shows a test accuracy >= 0.9, a loss chart
// with numbered axes and the test set's confusion matrix; its controls (network, optimiser, step,
// epochs) change the next run; retrain and stop end a running training before anything else runs
// in the worker; the autoencoder shows reconstructions; digits the test draws are classified by
// the latest classifier. The backend switch: WebGPU (SwiftShader's software adapter here, so one
// short run) shows its adapter, trains the conv net to the WASM losses and classifies drawings on
// the GPU; switching back to WASM retrains there; a Chromium without WebGPU shows init's NO_GPU
// message and stays on WASM. Saves test-results/demo.png and demo-webgpu.png. Needs Debian's chromium (apt-get install
// -y chromium).
//
// Tolerance: the GPU run's loss within 1e-3 relative of the WASM core's (f32 sums in another order),
// as the README states for the GPU backend.
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../scripts/demo.js';
import { type Served, serve } from '../scripts/serve.js';
import {
  LogSoftmaxCrossEntropy,
  asSamples,
  availableCores,
  init,
  loadDigits,
  preset,
  sgd,
} from '../ts/index.js';
import { autoWorkers } from '../ts/train/parallel.js';
import { launchChromium } from './browser/chromium.js';
import { expectFreshDist } from './browser/dist-check.js';

/** Main-thread timer period of the probe the test installs (ms). */
const TICK_MS = 5;
/** The digits test split's size. */
const TEST_SIZE = 359;
/** Longest wait for a WebGPU run: SwiftShader on a shared 2-core machine takes 1-2 min an epoch. */
const GPU_MS = 480_000;
/** The GPU run's config: Adam learns in one epoch what sgd needs several for. */
const GPU_RUN = { preset: 'conv1d', optimizer: 'adam', step: '0.002', epochs: '1' };

let server: Served;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const pageErrors: string[] = [];

/** What main.ts records of each worker message (window.demoLog). */
interface Logged {
  type: string;
  run?: number;
  epoch?: number;
  loss?: number;
  threads?: number;
  stopped?: boolean;
  at: number;
}

beforeAll(async () => {
  expectFreshDist();
  server = await serve(await buildDemo('build/demo-test'));
  // WebGPU exists only with this flag (pages from 127.0.0.1 then get SwiftShader's adapter).
  browser = await launchChromium(['--enable-unsafe-webgpu']);
  page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.addInitScript((ms: number) => {
    const ticks: number[] = [];
    (window as unknown as { probeTicks: number[] }).probeTicks = ticks;
    setInterval(() => ticks.push(performance.now()), ms);
  }, TICK_MS);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const demoLog = (p: Page): Promise<Logged[]> =>
  p.evaluate(() => (window as unknown as { demoLog: Logged[] }).demoLog);

/** Epoch losses the worker reported for `run`, in arrival order. */
async function lossesOf(p: Page, run: number): Promise<number[]> {
  return (await demoLog(p)).filter((m) => m.type === 'epoch' && m.run === run).map((m) => m.loss!);
}

/** Waits until the page's current run (body data-run) is `run` and has finished or stopped. */
async function waitForEnd(p: Page, run: number, timeout = 30_000): Promise<string> {
  await p.waitForFunction(
    (r) =>
      document.body.dataset.run === String(r) &&
      ['done', 'stopped', 'error'].includes(document.body.dataset.state ?? ''),
    run,
    { timeout },
  );
  return (await p.evaluate(() => document.body.dataset.state))!;
}

interface Settings {
  preset?: string;
  optimizer?: string;
  step?: string;
  epochs?: string;
}

/** Sets the controls (only those given); nothing runs. */
async function setControls(p: Page, settings: Settings): Promise<void> {
  if (settings.preset !== undefined) await p.selectOption('#preset', settings.preset);
  if (settings.optimizer !== undefined) await p.selectOption('#optimizer', settings.optimizer);
  if (settings.step !== undefined) await p.fill('#step', settings.step);
  if (settings.epochs !== undefined) await p.fill('#epochs', settings.epochs);
}

/** Sets the controls (only those given) and presses retrain; returns the new run's number. */
async function retrain(p: Page, settings: Settings): Promise<number> {
  await setControls(p, settings);
  const before = Number(await p.evaluate(() => document.body.dataset.run));
  await p.click('#retrain');
  const run = Number(await p.evaluate(() => document.body.dataset.run));
  expect(run).toBe(before + 1);
  return run;
}

/** Picks a backend (which restarts the worker and retrains); returns the new run's number. */
async function switchBackend(p: Page, backend: 'wasm' | 'webgpu'): Promise<number> {
  const before = Number(await p.evaluate(() => document.body.dataset.run));
  await p.selectOption('#backend', backend);
  const run = Number(await p.evaluate(() => document.body.dataset.run));
  expect(run).toBe(before + 1);
  return run;
}

/** The Node (WASM) losses of `settings` on the conv net, batch 32, seed 1, as the page trains. */
async function referenceLosses(settings: Required<Settings>): Promise<number[]> {
  await init();
  const { train } = loadDigits();
  const net = preset(settings.preset as 'conv1d', { seed: 1 });
  const loss = new LogSoftmaxCrossEntropy();
  const { loss: losses } = sgd(
    net.net,
    { x: asSamples(train.x, net.inputShape), y: train.y },
    loss,
    {
      optimizer: settings.optimizer as 'adam',
      step: Number(settings.step),
      epochs: Number(settings.epochs),
      batchSize: 32,
      seed: 1,
    },
  );
  net.net.dispose();
  loss.dispose();
  return losses;
}

/** Draws a polyline on the pad (coordinates in pad pixels, 192 x 192) with the mouse. */
async function draw(p: Page, points: Array<[number, number]>): Promise<void> {
  const box = (await p.locator('#pad').boundingBox())!;
  const scale = box.width / 192;
  await p.mouse.move(box.x + points[0]![0] * scale, box.y + points[0]![1] * scale);
  await p.mouse.down();
  for (const [x, y] of points.slice(1))
    await p.mouse.move(box.x + x * scale, box.y + y * scale, { steps: 3 });
  await p.mouse.up();
}

const ellipse = (cx: number, cy: number, rx: number, ry: number): Array<[number, number]> =>
  Array.from({ length: 41 }, (_, i) => [
    cx + rx * Math.sin((i / 40) * 2 * Math.PI),
    cy - ry * Math.cos((i / 40) * 2 * Math.PI),
  ]);

/** Pad strokes of four digits. */
const DIGITS: Array<[string, Array<Array<[number, number]>>]> = [
  ['0', [ellipse(96, 96, 40, 62)]],
  [
    '1',
    [
      [
        [100, 30],
        [100, 165],
      ],
    ],
  ],
  [
    '4',
    [
      [
        [110, 30],
        [45, 115],
        [150, 115],
      ],
      [
        [120, 70],
        [120, 170],
      ],
    ],
  ],
  [
    '7',
    [
      [
        [50, 35],
        [145, 35],
        [85, 165],
      ],
    ],
  ],
];

/** Draws the digit's strokes on a cleared pad; resolves with the page's verdict. */
async function classify(p: Page, strokes: Array<Array<[number, number]>>): Promise<string> {
  await p.click('#clear');
  for (const stroke of strokes) await draw(p, stroke);
  // The answer to the last stroke (each stroke asks for a prediction).
  await p.waitForFunction(
    () =>
      document.getElementById('prediction')!.dataset.request ===
      document.getElementById('pad')!.dataset.request,
  );
  return (await p.getAttribute('#prediction', 'data-digit'))!;
}

/** The numbers of the loss chart's axis labels. */
async function tickLabels(p: Page, axis: 'x' | 'y'): Promise<string[]> {
  return p.locator(`#loss-chart .${axis}-axis .tick text`).allTextContents();
}

/** The confusion matrix's cells as numbers, row by row. */
async function confusionCells(p: Page): Promise<number[][]> {
  return p.evaluate(() =>
    Array.from(document.querySelectorAll('#confusion table tr')).flatMap((tr) => {
      const cells = Array.from(tr.querySelectorAll('td')).map((td) => Number(td.textContent));
      return cells.length > 0 ? [cells] : [];
    }),
  );
}

describe('demo in headless Chromium', () => {
  it('trains the default conv net in the worker with the main thread live and reaches 0.9', async () => {
    await page.goto(server.url);
    expect(await waitForEnd(page, 1)).toBe('done');
    expect(pageErrors).toEqual([]);

    const running = await page.textContent('#running');
    expect(running).toContain('conv1d');
    expect(running).toContain('sgd · step 0.05 · 15 epochs');
    const accuracy = Number(await page.getAttribute('#accuracy', 'data-value'));
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
    const seconds = await page.evaluate(() => document.body.dataset.trainSeconds);
    console.log(
      `demo: default config (conv1d, sgd, step 0.05, 15 epochs) trained in ${seconds} s in the worker, test accuracy ${accuracy.toFixed(3)} (headless Chromium)`,
    );

    // The timer fires during epochs, not just between them: impossible if an epoch ran on the
    // main thread (then at most the one tick of the yield lands between two epoch reports).
    const log = await demoLog(page);
    const ticks = await page.evaluate(
      () => (window as unknown as { probeTicks: number[] }).probeTicks,
    );
    const times = log.filter((m) => m.type === 'epoch' && m.run === 1).map((m) => m.at);
    expect(times.length).toBe(15);
    const between = times
      .slice(1)
      .map((t, i) => ticks.filter((k) => k > times[i]! && k < t).length);
    const fired = between.reduce((a, b) => a + b, 0);
    console.log(
      `demo: the ${TICK_MS} ms main-thread timer fired ${fired} times within ${between.length} epochs`,
    );
    expect(fired).toBeGreaterThanOrEqual(2 * between.length);

    // The page is cross-origin isolated (scripts/serve.ts), so 'auto' splits the conv net's
    // batches as it would in Node on this machine's cores (fit starts the threads in the worker).
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await init();
    const { net, inputShape } = preset('conv1d', { seed: 1 });
    const expected = autoWorkers(net, [32, ...inputShape], availableCores());
    net.dispose();
    const threads = log.filter((m) => m.type === 'epoch' && m.run === 1).map((m) => m.threads);
    expect(threads).toEqual(Array(15).fill(expected));
  }, 60_000);

  it('shows no developer hook on the page', async () => {
    const text = await page.locator('body').innerText();
    expect(text).not.toMatch(/timer ticks|heartbeat|main thread:/i);
    expect(await page.locator('#heartbeat').count()).toBe(0);
  });

  it('plots the loss with a numbered y axis from 0 and an x axis in epochs', async () => {
    expect(await page.getAttribute('#loss-chart', 'data-epochs')).toBe('15');
    expect(await page.locator('#loss-chart .curve.current circle').count()).toBe(15);
    const y = (await tickLabels(page, 'y')).map(Number);
    expect(y.length).toBeGreaterThanOrEqual(3);
    for (const v of y) expect(Number.isFinite(v)).toBe(true);
    expect(y[0]).toBe(0);
    for (let i = 1; i < y.length; i++) expect(y[i]!).toBeGreaterThan(y[i - 1]!);
    // The axis covers the curve: its top label is at least the largest loss.
    const losses = await lossesOf(page, 1);
    expect(y.at(-1)!).toBeGreaterThanOrEqual(Math.max(...losses));
    const x = (await tickLabels(page, 'x')).map(Number);
    expect(x.length).toBeGreaterThanOrEqual(3);
    for (const v of x) expect(Number.isInteger(v) && v >= 1 && v <= 15).toBe(true);
    expect(await page.locator('#loss-chart').textContent()).toContain('epoch');
  });

  it("shows the test set's confusion matrix, whose diagonal is the printed accuracy", async () => {
    const cells = await confusionCells(page);
    expect(cells.length).toBe(10);
    for (const row of cells) expect(row.length).toBe(10);
    const total = cells.flat().reduce((a, b) => a + b, 0);
    const correct = cells.reduce((a, row, i) => a + row[i]!, 0);
    expect(total).toBe(TEST_SIZE);
    expect(await page.textContent('#accuracy')).toBe((correct / total).toFixed(3));
    expect(Number(await page.getAttribute('#accuracy', 'data-value'))).toBe(correct / total);
    // A colour scale: the diagonal cells are shaded, darker than any mistake in their row.
    const shades = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#confusion td')).map(
        (td) => (td as HTMLElement).style.background,
      ),
    );
    expect(shades.filter((s) => s.startsWith('rgba')).length).toBeGreaterThanOrEqual(10);
  });

  it('refuses a bad step without starting a run', async () => {
    const run = await page.evaluate(() => document.body.dataset.run);
    await page.fill('#step', '-1');
    await page.click('#retrain');
    expect(await page.textContent('#controls-error')).toContain('step: expected a number above 0');
    expect(await page.evaluate(() => document.body.dataset.run)).toBe(run);
    await page.fill('#step', '0.05');
  });

  it('reports a diverging step on the page and keeps the last classifier', async () => {
    const classifierRun = await page.getAttribute('#pad-model', 'data-run');
    const run = await retrain(page, { step: '20' });
    expect(await waitForEnd(page, run)).toBe('error');
    expect(await page.textContent('#status')).toMatch(
      /^error: fit \(epoch 1 of 15, batch \d+ of 45\): .*finite.*lower the step/,
    );
    expect(await page.getAttribute('#pad-model', 'data-run')).toBe(classifierRun);
    await page.fill('#step', '0.05');
  });

  it('trains what the controls say: adam for 3 epochs, plotted and shown, unlike sgd', async () => {
    // Picking adam sets its usual step (0.002); the same step with sgd is the comparison.
    await page.selectOption('#optimizer', 'adam');
    expect(await page.inputValue('#step')).toBe('0.002');
    const adamRun = await retrain(page, { epochs: '3' });
    expect(await waitForEnd(page, adamRun)).toBe('done');
    const running = await page.textContent('#running');
    expect(running).toContain('adam · step 0.002 · 3 epochs');
    expect(await page.getAttribute('#running', 'data-optimizer')).toBe('adam');
    expect(await page.getAttribute('#loss-chart', 'data-epochs')).toBe('3');
    expect(await page.locator('#loss-chart .curve.current circle').count()).toBe(3);
    expect((await tickLabels(page, 'x')).map(Number)).toEqual([1, 2, 3]);
    // The previous run (sgd) is drawn dashed beside it.
    expect(await page.locator('#loss-chart .curve.previous polyline').count()).toBe(1);
    expect(await confusionCells(page)).toHaveLength(10);

    const sgdRun = await retrain(page, { optimizer: 'sgd', step: '0.002', epochs: '3' });
    expect(await waitForEnd(page, sgdRun)).toBe('done');
    expect(await page.textContent('#running')).toContain('sgd · step 0.002 · 3 epochs');
    const adamLosses = await lossesOf(page, adamRun);
    const sgdLosses = await lossesOf(page, sgdRun);
    expect(adamLosses).toHaveLength(3);
    expect(sgdLosses).toHaveLength(3);
    // Same network, seed and step: only the update rule differs. At this small step plain SGD
    // barely moves from chance (ln 10 = 2.30) while Adam's per-weight steps bring the loss down.
    console.log(
      `demo: 3 epochs at step 0.002: adam ${adamLosses.map((v) => v.toFixed(3))}, sgd ${sgdLosses.map((v) => v.toFixed(3))}`,
    );
    expect(adamLosses[2]!).toBeLessThan(sgdLosses[2]! - 0.5);

    // The run is the library's: one sgd call of 3 epochs with this config gives the same losses,
    // so Adam's moments carry from epoch to epoch (a fresh optimiser per epoch would differ).
    await init();
    const { train } = loadDigits();
    const net = preset('conv1d', { seed: 1 });
    const reference = sgd(
      net.net,
      { x: asSamples(train.x, net.inputShape), y: train.y },
      new LogSoftmaxCrossEntropy(),
      { optimizer: 'adam', step: 0.002, epochs: 3, batchSize: 32, seed: 1 },
    ).loss;
    net.net.dispose();
    for (const [i, v] of reference.entries()) expect(adamLosses[i]).toBeCloseTo(v, 5);
  }, 60_000);

  it('retrain mid-run stops the running training before the next one starts', async () => {
    const long = await retrain(page, { optimizer: 'sgd', step: '0.05', epochs: '200' });
    await page.waitForFunction(
      (r) =>
        (window as unknown as { demoLog: Logged[] }).demoLog.filter(
          (m) => m.type === 'epoch' && m.run === r,
        ).length >= 2,
      long,
    );
    const next = await retrain(page, { preset: 'mlp', optimizer: 'momentum', epochs: '4' });
    expect(await waitForEnd(page, next)).toBe('done');
    expect(await page.textContent('#running')).toContain('mlp');

    const log = (await demoLog(page)).filter((m) => m.run === long || m.run === next);
    const i = (pred: (m: Logged) => boolean): number => log.findIndex(pred);
    const stopped = i((m) => m.type === 'finished' && m.run === long);
    const started = i((m) => m.type === 'started' && m.run === next);
    // The long run ended, stopped, and every report of it came before the next run started.
    expect(log[stopped]!.stopped).toBe(true);
    expect(stopped).toBeLessThan(started);
    expect(log.slice(started).every((m) => m.run === next)).toBe(true);
    const longEpochs = log.filter((m) => m.type === 'epoch' && m.run === long).length;
    expect(longEpochs).toBeGreaterThanOrEqual(2);
    expect(longEpochs).toBeLessThan(200);
    expect(log.filter((m) => m.type === 'epoch' && m.run === next).map((m) => m.epoch)).toEqual([
      0, 1, 2, 3,
    ]);
    expect(await page.getAttribute('#loss-chart', 'data-epochs')).toBe('4');
    const status = await page.textContent('#status');
    expect(status).toMatch(/^done: 4 epochs in [\d.]+ s/);
  }, 60_000);

  it('rapid retrains: only the last request trains to the end, one run at a time', async () => {
    await retrain(page, { preset: 'conv1d', optimizer: 'sgd', step: '0.05', epochs: '50' });
    await retrain(page, {});
    const last = await retrain(page, { epochs: '2' });
    expect(await waitForEnd(page, last)).toBe('done');
    const log = (await demoLog(page)).filter((m) => m.run !== undefined && m.run >= last - 2);
    // Runs never overlap: each one that started finished before the next started.
    let open: number | null = null;
    for (const m of log) {
      if (m.type === 'started') {
        expect(open).toBeNull();
        open = m.run!;
      } else if (m.type === 'finished') {
        expect(m.run).toBe(open);
        open = null;
      } else if (m.type === 'epoch') {
        expect(m.run).toBe(open);
      }
    }
    const finished = log.filter((m) => m.type === 'finished');
    expect(finished.at(-1)).toMatchObject({ run: last, stopped: false });
    for (const m of finished.slice(0, -1)) expect(m.stopped).toBe(true);
  });

  it('stop ends a run and keeps the model trained so far, with its confusion matrix', async () => {
    const run = await retrain(page, {
      preset: 'conv1d',
      optimizer: 'sgd',
      step: '0.05',
      epochs: '200',
    });
    await page.waitForFunction(
      (r) =>
        (window as unknown as { demoLog: Logged[] }).demoLog.filter(
          (m) => m.type === 'epoch' && m.run === r,
        ).length >= 1,
      run,
    );
    await page.click('#stop');
    expect(await waitForEnd(page, run)).toBe('stopped');
    expect(await page.textContent('#status')).toMatch(/^stopped after \d+ of 200 epochs/);
    const total = (await confusionCells(page)).flat().reduce((a, b) => a + b, 0);
    expect(total).toBe(TEST_SIZE);
    expect(await page.getAttribute('#pad-model', 'data-run')).toBe(String(run));
  }, 60_000);

  it('classifies digits the test draws with the newly trained model', async () => {
    const run = await retrain(page, {
      preset: 'conv1d',
      optimizer: 'adam',
      step: '0.002',
      epochs: '15',
    });
    expect(await waitForEnd(page, run)).toBe('done');
    expect(await page.getAttribute('#pad-model', 'data-run')).toBe(String(run));
    const predictions: Record<string, string> = {};
    for (const [digit, strokes] of DIGITS) predictions[digit] = await classify(page, strokes);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/demo.png', fullPage: true });
    expect(predictions).toEqual({ 0: '0', 1: '1', 4: '4', 7: '7' });
  }, 60_000);

  it('shows the WASM backend with its threads', async () => {
    expect(await page.evaluate(() => document.body.dataset.backend)).toBe('wasm');
    expect(await page.inputValue('#backend')).toBe('wasm');
    expect(await page.textContent('#backend-label')).toMatch(/^WASM SIMD128, \d+ threads?$/);
    expect(await page.textContent('#running')).toContain('· WASM');
  });

  it('trains the autoencoder, shows reconstructions, and the pad keeps the last classifier', async () => {
    const classifierRun = await page.getAttribute('#pad-model', 'data-run');
    const run = await retrain(page, { preset: 'autoencoder', optimizer: 'sgd', epochs: '5' });
    expect(await waitForEnd(page, run)).toBe('done');
    expect(await page.isVisible('#recon')).toBe(true);
    expect(await page.getAttribute('#recon', 'data-shown')).toBe('10');
    expect(await page.locator('#confusion table').count()).toBe(0);
    expect(await page.locator('#loss-chart').textContent()).toContain('BCE');
    expect(await page.getAttribute('#pad-model', 'data-run')).toBe(classifierRun);
    expect(await classify(page, DIGITS[1]![1])).toBe('1');
    expect(pageErrors).toEqual([]);
  }, 60_000);
});

describe('demo backend switch', () => {
  let gpuLoss: number;

  it('switches to WebGPU: names the adapter, trains the conv net there, classifies drawings on the GPU', async () => {
    await setControls(page, GPU_RUN);
    const run = await switchBackend(page, 'webgpu');
    // The old worker went with its classifier.
    expect(await page.getAttribute('#pad-model', 'data-run')).toBeNull();
    // Drawn during the first epoch: no classifier yet, and the GPU's values come back at the
    // epoch's end, where the worker answers it.
    await page.click('#clear');
    for (const stroke of DIGITS[1]![1]) await draw(page, stroke);
    const drawnAt = await page.evaluate(() => performance.now());

    expect(await waitForEnd(page, run, GPU_MS)).toBe('done');
    expect(pageErrors).toEqual([]);
    expect(await page.evaluate(() => document.body.dataset.backend)).toBe('webgpu');
    // The label names the adapter the page's browser gives WebGPU (SwiftShader's here).
    const expected = await page.evaluate(async () => {
      const adapter = (await navigator.gpu.requestAdapter()) as GPUAdapter & {
        info: GPUAdapterInfo;
      };
      return `WebGPU (${adapter.info.vendor}, ${adapter.info.architecture})`;
    });
    const label = await page.textContent('#backend-label');
    expect(label).toBe(expected);
    expect(await page.textContent('#backend-error')).toBe('');
    expect(await page.textContent('#running')).toContain('adam · step 0.002 · 1 epochs');
    expect(await page.getAttribute('#running', 'data-backend')).toBe('webgpu');

    // The loss is the library's: the WASM core's for the same run, within the GPU's tolerance.
    const losses = await lossesOf(page, run);
    expect(losses).toHaveLength(1);
    gpuLoss = losses[0]!;
    const [reference] = await referenceLosses(GPU_RUN as Required<Settings>);
    expect(Math.abs(gpuLoss - reference!) / reference!).toBeLessThan(1e-3);
    const log = await demoLog(page);
    expect(log.filter((m) => m.type === 'epoch' && m.run === run).map((m) => m.threads)).toEqual([
      1,
    ]);
    // Accuracy and the confusion matrix (metrics on the host, on the synced weights).
    const accuracy = Number(await page.getAttribute('#accuracy', 'data-value'));
    const seconds = await page.evaluate(() => document.body.dataset.trainSeconds);
    console.log(
      `demo: ${label}: conv1d, adam, step 0.002, 1 epoch in ${seconds} s, loss ${gpuLoss} (WASM ${reference}), test accuracy ${accuracy.toFixed(3)}`,
    );
    expect(accuracy).toBeGreaterThanOrEqual(0.85);
    const cells = await confusionCells(page);
    expect(cells.flat().reduce((a, b) => a + b, 0)).toBe(TEST_SIZE);
    expect(cells.reduce((a, row, i) => a + row[i]!, 0) / TEST_SIZE).toBe(accuracy);

    // The drawing made during the epoch (SwiftShader's epoch outlasts the drawing; a real GPU's
    // may not) was answered at the epoch's end, before the run finished.
    const epochAt = log.find((m) => m.type === 'epoch' && m.run === run)!.at;
    const answered = log.findIndex((m) => m.type === 'prediction' && m.at > drawnAt);
    const finished = log.findIndex((m) => m.type === 'finished' && m.run === run);
    expect(answered).toBeGreaterThanOrEqual(0);
    if (drawnAt < epochAt) expect(answered).toBeLessThan(finished);
    expect(await page.getAttribute('#prediction', 'data-request')).toBe(
      await page.getAttribute('#pad', 'data-request'),
    );
    expect(await page.getAttribute('#prediction', 'data-digit')).toBe('1');
    expect(await page.getAttribute('#pad-model', 'data-run')).toBe(String(run));
    expect(await page.textContent('#pad-model')).toContain('WebGPU');

    // Between runs the forward pass runs on the GPU and its output is read back.
    const predictions: Record<string, string> = {};
    for (const [digit, strokes] of DIGITS) predictions[digit] = await classify(page, strokes);
    await page.screenshot({ path: 'test-results/demo-webgpu.png', fullPage: true });
    expect(predictions).toEqual({ 0: '0', 1: '1', 4: '4', 7: '7' });
    expect(pageErrors).toEqual([]);
  }, 600_000);

  it('switches back to WASM: restarts the worker there and retrains with the controls', async () => {
    await setControls(page, GPU_RUN);
    const run = await switchBackend(page, 'wasm');
    expect(await page.getAttribute('#pad-model', 'data-run')).toBeNull();
    expect(await waitForEnd(page, run)).toBe('done');
    expect(await page.evaluate(() => document.body.dataset.backend)).toBe('wasm');
    expect(await page.textContent('#backend-label')).toMatch(/^WASM SIMD128, \d+ threads?$/);
    expect(await page.getAttribute('#running', 'data-backend')).toBe('wasm');
    const [wasmLoss] = await lossesOf(page, run);
    const [reference] = await referenceLosses(GPU_RUN as Required<Settings>);
    expect(wasmLoss).toBeCloseTo(reference!, 5);
    expect(Math.abs(gpuLoss - wasmLoss!) / wasmLoss!).toBeLessThan(1e-3);
    expect(await classify(page, DIGITS[2]![1])).toBe('4');
    expect(await page.getAttribute('#pad-model', 'data-run')).toBe(String(run));
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("without WebGPU, shows init's NO_GPU message and goes back to WASM", async () => {
    // A Chromium without --enable-unsafe-webgpu: no adapter on this machine.
    const plain = await launchChromium();
    try {
      const p = await plain.context.newPage();
      const errors: string[] = [];
      p.on('pageerror', (e) => errors.push(e.message));
      await p.goto(server.url);
      await setControls(p, { epochs: '2' });
      await switchBackend(p, 'webgpu');
      await p.waitForFunction(() => document.getElementById('backend-error')!.textContent !== '');
      const message = await p.textContent('#backend-error');
      console.log(`demo: without WebGPU: ${message}`);
      expect(message).toMatch(/^WebGPU is not available: init: expected (WebGPU|a WebGPU adapter)/);
      expect(message).toContain("the default backend 'wasm'");
      expect(await p.getAttribute('#backend-error', 'data-code')).toBe('NO_GPU');
      // Not silent: the switch shows WASM again and the retrain runs there, the reason still shown.
      expect(await p.inputValue('#backend')).toBe('wasm');
      const run = Number(await p.evaluate(() => document.body.dataset.run));
      expect(await waitForEnd(p, run)).toBe('done');
      expect(await p.evaluate(() => document.body.dataset.backend)).toBe('wasm');
      expect(await p.textContent('#backend-label')).toMatch(/^WASM SIMD128/);
      expect(await p.textContent('#backend-error')).toBe(message);
      expect(errors).toEqual([]);
    } finally {
      await plain.close();
    }
  }, 60_000);
});
