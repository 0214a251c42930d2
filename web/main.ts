// The demo page: the controls (backend, network, optimiser, step, epochs, retrain, stop), and what
// the training worker reports (backend, loss chart, accuracy, confusion matrix, reconstructions);
// drawings go to the worker for classification. No torchlet import here: the main thread never
// computes, so it stays responsive. Each training request gets a run number; reports of older runs
// are dropped. A worker's backend is fixed at its init, so switching backends replaces the worker.
import { toDigitPixels } from './digit.js';
import type { Backend, FromWorker, RunConfig, Task, ToWorker } from './protocol.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const SVG_NS = 'http://www.w3.org/2000/svg';

/** The step each optimiser starts from when picked (the step box takes it; it can be edited). */
const SUGGESTED_STEP: Record<RunConfig['optimizer'], number> = {
  sgd: 0.05,
  momentum: 0.01,
  nesterov: 0.01,
  adam: 0.002,
};
const BATCH_SIZE = 32;
const SEED = 1;
const MAX_EPOCHS = 200;
const BACKEND_NAME: Record<Backend, string> = { wasm: 'WASM', webgpu: 'WebGPU' };

/**
 * Every message from the worker, stale ones included, with its arrival time (performance.now()):
 * not shown, read by the end-to-end test (window.demoLog).
 */
const log: Array<{
  type: string;
  run?: number;
  epoch?: number;
  loss?: number;
  stopped?: boolean;
  at: number;
}> = [];
(window as unknown as { demoLog: typeof log }).demoLog = log;

interface Run {
  run: number;
  /** The backend of the worker that trained it. */
  backend: Backend;
  config: RunConfig;
  description: string;
  task: Task;
  losses: number[];
  /** Set when the run was stopped before its last epoch (or its worker replaced). */
  stopped?: boolean;
}

/** The latest run requested (0: none yet); reports of other runs are stale. */
let latest = 0;
/** Runs the page has heard start, by number (the pad's model may be an older one). */
const runs = new Map<number, Run>();
/** The run plotted dashed beside the current one. */
let previous: Run | null = null;
let requestId = 0;

let worker: Worker;
/** The backend the current worker was asked for. */
let workerBackend: Backend = 'wasm';
/** What the worker said runs its kernels ('' until it has initialised). */
let backendLabel = '';
const send = (message: ToWorker): void => worker.postMessage(message);

/** A new training worker on `backend`; the current one, if any, must be terminated first. */
function startWorker(backend: Backend): void {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  // A replaced worker's messages may already be queued: only the current worker's count.
  w.addEventListener('error', (e) => {
    if (w === worker) fail(e.message || 'the worker failed to load');
  });
  w.addEventListener('message', (e: MessageEvent<FromWorker>) => {
    if (w !== worker) return;
    const m = e.data;
    log.push({
      type: m.type,
      ...('run' in m ? { run: m.run } : {}),
      ...(m.type === 'epoch' ? { epoch: m.epoch, loss: m.loss, threads: m.threads } : {}),
      ...(m.type === 'finished' ? { stopped: m.stopped } : {}),
      at: performance.now(),
    });
    onMessage(m);
  });
  worker = w;
  workerBackend = backend;
  backendLabel = '';
  delete document.body.dataset.backend;
  $('backend-label').textContent = `starting ${BACKEND_NAME[backend]}…`;
  send({ type: 'init', backend });
}

function onMessage(m: FromWorker): void {
  switch (m.type) {
    case 'status':
      if (latest === 0 || !runs.has(latest)) $('status').textContent = m.text;
      break;
    case 'backend':
      backendLabel = m.label;
      document.body.dataset.backend = m.backend;
      $('backend-label').textContent = m.label;
      break;
    case 'backend-error':
      if (m.backend === 'webgpu') {
        // No silent fallback: the reason stays on the page while the switch goes back to WASM.
        backendSelect.value = 'wasm';
        switchBackend('wasm');
        $('backend-error').textContent = `WebGPU is not available: ${m.message}`;
        if (m.code !== undefined) $('backend-error').dataset.code = m.code;
      } else {
        fail(m.message);
      }
      break;
    case 'presets':
      fillPresets(m.presets);
      break;
    case 'started': {
      const { config, description, task } = m;
      const run: Run = {
        run: m.run,
        backend: workerBackend,
        config,
        description,
        task,
        losses: [],
      };
      runs.set(m.run, run);
      if (m.run !== latest) return;
      showRunning(run);
      drawLossChart(run);
      $('status').textContent = `training: epoch 1 of ${m.config.epochs}…`;
      $('recon-figure').hidden = m.task !== 'reconstruct';
      break;
    }
    case 'epoch': {
      const run = runs.get(m.run);
      if (m.run !== latest || run === undefined) return;
      run.losses.push(m.loss);
      drawLossChart(run);
      if (m.accuracy !== undefined) showAccuracy(m.accuracy, m.epoch);
      const threads = `${m.threads} ${m.threads === 1 ? 'thread' : 'threads'}`;
      $('status').textContent =
        `epoch ${m.epoch + 1} of ${m.epochs}: loss ${m.loss.toFixed(4)} (${threads})`;
      // The GPU runs each step whole; on WASM the label says how many threads split the batches.
      if (workerBackend === 'wasm' && backendLabel !== '')
        $('backend-label').textContent = `${backendLabel}, ${threads}`;
      break;
    }
    case 'reconstructions':
      if (m.run === latest) drawReconstructions(m.inputs, m.outputs, m.count);
      break;
    case 'confusion':
      if (m.run === latest) showConfusion(m.matrix);
      break;
    case 'classifier': {
      const run = runs.get(m.run);
      $('pad-model').textContent = run
        ? `classified by run ${m.run}: ${run.config.preset}, ${run.config.optimizer}, ${BACKEND_NAME[run.backend]}`
        : `classified by run ${m.run}`;
      $('pad-model').dataset.run = String(m.run);
      break;
    }
    case 'finished': {
      const run = runs.get(m.run);
      if (run) run.stopped = m.stopped;
      if (m.run !== latest) return;
      const what = m.stopped
        ? `stopped after ${m.epochsDone} of ${run?.config.epochs} epochs`
        : `done: ${m.epochsDone} epochs`;
      $('status').textContent = `${what} in ${m.seconds.toFixed(1)} s, all in the worker`;
      document.body.dataset.state = m.stopped ? 'stopped' : 'done';
      document.body.dataset.trainSeconds = m.seconds.toFixed(2);
      break;
    }
    case 'prediction':
      if (m.id === requestId) showPrediction(m.probabilities);
      break;
    case 'error':
      if (m.run === undefined || m.run === latest) fail(m.message);
      break;
  }
}

function fail(message: string): void {
  document.body.dataset.state = 'error';
  $('status').textContent = `error: ${message}`;
}

// ---- controls

const backendSelect = $<HTMLSelectElement>('backend');
const presetSelect = $<HTMLSelectElement>('preset');
const optimizerSelect = $<HTMLSelectElement>('optimizer');
const stepInput = $<HTMLInputElement>('step');
const epochsInput = $<HTMLInputElement>('epochs');

function fillPresets(presets: Array<{ name: string; description: string; task: Task }>): void {
  const chosen = presetSelect.value;
  presetSelect.replaceChildren(
    ...presets.map((p) => {
      const option = document.createElement('option');
      option.value = p.name;
      option.textContent = p.task === 'classify' ? p.name : `${p.name} (reconstructs)`;
      option.title = p.description;
      return option;
    }),
  );
  presetSelect.value = chosen;
}

optimizerSelect.addEventListener('change', () => {
  stepInput.value = String(SUGGESTED_STEP[optimizerSelect.value as RunConfig['optimizer']]);
});

/** The controls' values, or the reason they are not usable (nothing is sent then). */
function readControls(): RunConfig | string {
  const step = Number(stepInput.value);
  const epochs = Number(epochsInput.value);
  if (stepInput.value.trim() === '' || !Number.isFinite(step) || step <= 0)
    return `step: expected a number above 0, got "${stepInput.value}"`;
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > MAX_EPOCHS)
    return `epochs: expected a whole number from 1 to ${MAX_EPOCHS}, got "${epochsInput.value}"`;
  return {
    preset: presetSelect.value as RunConfig['preset'],
    optimizer: optimizerSelect.value as RunConfig['optimizer'],
    step,
    epochs,
    batchSize: BATCH_SIZE,
    seed: SEED,
  };
}

/** Stops the current run (the worker does, before anything else) and starts one with `config`. */
function startRun(config: RunConfig): void {
  const old = runs.get(latest);
  if (old && old.losses.length > 0) previous = old;
  latest += 1;
  document.body.dataset.state = 'training';
  document.body.dataset.run = String(latest);
  delete document.body.dataset.trainSeconds;
  $('status').textContent = `starting run ${latest}…`;
  $('accuracy').textContent = '–';
  delete $('accuracy').dataset.value;
  $('accuracy-detail').textContent = '';
  $('confusion').replaceChildren(emptyConfusion());
  send({ type: 'train', run: latest, config });
}

$('controls').addEventListener('submit', (e) => {
  e.preventDefault();
  const config = readControls();
  $('controls-error').textContent = typeof config === 'string' ? config : '';
  if (typeof config !== 'string') startRun(config);
});
$('stop').addEventListener('click', () => send({ type: 'stop' }));

/**
 * Replaces the worker by one on `backend` and retrains with the controls' values. The old worker's
 * run ends unfinished, and its classifier goes with it.
 */
function switchBackend(backend: Backend): void {
  worker.terminate();
  const old = runs.get(latest);
  if (old && old.stopped === undefined) old.stopped = true;
  $('backend-error').textContent = '';
  delete $('backend-error').dataset.code;
  $('pad-model').textContent = 'no classifier trained yet';
  delete $('pad-model').dataset.run;
  $('probs').replaceChildren();
  $('prediction').textContent = '';
  delete $('prediction').dataset.digit;
  startWorker(backend);
  const config = readControls();
  $('controls-error').textContent = typeof config === 'string' ? config : '';
  if (typeof config !== 'string') startRun(config);
}
backendSelect.addEventListener('change', () => switchBackend(backendSelect.value as Backend));

function showRunning({ run, backend, config, description }: Run): void {
  const el = $('running');
  el.replaceChildren(
    `run ${run}: `,
    Object.assign(document.createElement('b'), { textContent: config.preset }),
    ' ',
    Object.assign(document.createElement('code'), { textContent: description }),
    ` · ${config.optimizer} · step ${config.step} · ${config.epochs} epochs · batch ${config.batchSize} · seed ${config.seed} · ${BACKEND_NAME[backend]}`,
  );
  Object.assign(el.dataset, {
    run: String(run),
    backend,
    preset: config.preset,
    optimizer: config.optimizer,
    step: String(config.step),
    epochs: String(config.epochs),
  });
}

// ---- accuracy and confusion matrix

function showAccuracy(value: number, epoch: number): void {
  const el = $('accuracy');
  el.textContent = value.toFixed(3);
  el.dataset.value = String(value);
  $('accuracy-detail').textContent = `after epoch ${epoch + 1}`;
}

function emptyConfusion(): HTMLElement {
  const div = document.createElement('div');
  div.id = 'confusion-empty';
  div.textContent = 'the confusion matrix appears after training';
  return div;
}

/** A `matrix[label][predicted]` table: counts, shaded by their share of the row (sqrt scale). */
function showConfusion(matrix: number[][]): void {
  const total = matrix.flat().reduce((a, b) => a + b, 0);
  const correct = matrix.reduce((a, row, i) => a + row[i]!, 0);
  const table = document.createElement('table');
  const cell = (tag: 'th' | 'td', text: string, className = ''): HTMLElement => {
    const el = document.createElement(tag);
    el.textContent = text;
    if (className) el.className = className;
    return el;
  };
  const over = document.createElement('tr');
  const predicted = cell('th', 'predicted');
  predicted.setAttribute('colspan', String(matrix.length));
  over.append(cell('th', ''), predicted, cell('th', ''));
  const head = document.createElement('tr');
  head.append(cell('th', 'true'), ...matrix.map((_, j) => cell('th', String(j))), cell('th', 'n'));
  table.append(over, head);
  matrix.forEach((row, i) => {
    const tr = document.createElement('tr');
    const rowTotal = row.reduce((a, b) => a + b, 0);
    tr.append(cell('th', String(i)));
    row.forEach((count, j) => {
      const td = cell('td', String(count), i === j ? 'diagonal' : count === 0 ? 'zero' : '');
      const share = rowTotal === 0 ? 0 : count / rowTotal;
      const alpha = Math.sqrt(share);
      if (count > 0) td.style.background = `rgba(59, 111, 216, ${alpha.toFixed(3)})`;
      if (alpha > 0.6) td.style.color = '#fff';
      td.dataset.count = String(count);
      td.title = `true ${i}, predicted ${j}: ${count} of ${rowTotal}`;
      tr.append(td);
    });
    tr.append(cell('th', String(rowTotal)));
    table.append(tr);
  });
  table.dataset.total = String(total);
  table.dataset.correct = String(correct);
  const scale = document.createElement('div');
  scale.className = 'scale';
  scale.append('0', Object.assign(document.createElement('span'), { className: 'ramp' }));
  scale.append('100 % of the row (square-root scale)');
  $('confusion').replaceChildren(table, scale);
  const value = correct / total;
  $('accuracy').textContent = value.toFixed(3);
  $('accuracy').dataset.value = String(value);
  $('accuracy-detail').textContent = `(${correct} of ${total} test digits, the matrix's diagonal)`;
}

// ---- loss chart (SVG): loss on y from 0, with ticks; epochs on x, numbered from 1

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A round tick spacing (1, 2 or 5 times a power of ten) giving about `count` intervals. */
function niceStep(range: number, count: number): number {
  const raw = range / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const r = raw / magnitude;
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * magnitude;
}

function drawLossChart(run: Run): void {
  const chart = $('loss-chart') as unknown as SVGSVGElement;
  const w = Number(chart.getAttribute('width'));
  const h = Number(chart.getAttribute('height'));
  const pad = { left: 52, right: 12, top: 26, bottom: 38 };
  const shown = previous && previous !== run ? [previous, run] : [run];
  // The x axis spans this run's epochs; the previous run is drawn over as many of its own.
  const epochs = run.config.epochs;
  const plotted = (r: Run): number[] => r.losses.slice(0, epochs);
  const top = Math.max(0, ...shown.flatMap(plotted).filter(Number.isFinite));
  const yStep = niceStep(top > 0 ? top : 1, 5);
  const yMax = Math.max(yStep, Math.ceil(top / yStep - 1e-9) * yStep);
  const decimals = Math.max(0, -Math.floor(Math.log10(yStep) + 1e-9));
  const x = (epoch: number): number => pad.left + ((w - pad.left - pad.right) * epoch) / epochs;
  const y = (v: number): number => h - pad.bottom - ((h - pad.top - pad.bottom) * v) / yMax;

  const yAxis = svg('g', { class: 'y-axis' });
  for (let k = 0; k * yStep <= yMax + yStep * 1e-6; k++) {
    const v = k * yStep;
    const tick = svg('g', { class: 'tick' });
    tick.append(
      svg('line', { x1: pad.left - 4, x2: w - pad.right, y1: y(v), y2: y(v), stroke: '#eee' }),
      svg('text', { x: pad.left - 7, y: y(v) + 4, 'text-anchor': 'end' }, v.toFixed(decimals)),
    );
    yAxis.append(tick);
  }
  const xAxis = svg('g', { class: 'x-axis' });
  const xStep = Math.max(1, Math.round(niceStep(epochs, 8)));
  for (let e = 1; e <= epochs; e++) {
    if (e % xStep !== 0 && !(e === 1 && xStep >= 4)) continue;
    const tick = svg('g', { class: 'tick' });
    tick.append(
      svg('line', {
        x1: x(e),
        x2: x(e),
        y1: h - pad.bottom,
        y2: h - pad.bottom + 4,
        stroke: '#999',
      }),
      svg('text', { x: x(e), y: h - pad.bottom + 16, 'text-anchor': 'middle' }, String(e)),
    );
    xAxis.append(tick);
  }
  const frame = svg('path', {
    d: `M${pad.left},${pad.top} V${h - pad.bottom} H${w - pad.right}`,
    fill: 'none',
    stroke: '#999',
  });
  const yTitle = svg(
    'text',
    { x: 12, y: pad.top + (h - pad.top - pad.bottom) / 2, 'text-anchor': 'middle' },
    run.task === 'classify' ? 'loss (cross-entropy)' : 'loss (BCE, summed)',
  );
  yTitle.setAttribute('transform', `rotate(-90 12 ${pad.top + (h - pad.top - pad.bottom) / 2})`);
  const xTitle = svg('text', { x: (pad.left + w - pad.right) / 2, y: h - 6 }, 'epoch');
  xTitle.setAttribute('text-anchor', 'middle');

  const curves = shown.map((r) => {
    const isCurrent = r === run;
    const color = isCurrent ? '#3b6fd8' : '#aaa';
    const g = svg('g', { class: isCurrent ? 'curve current' : 'curve previous' });
    const points = plotted(r).map((v, i) => `${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`);
    if (points.length > 1) {
      g.append(
        svg('polyline', {
          points: points.join(' '),
          fill: 'none',
          stroke: color,
          'stroke-width': 2,
          ...(isCurrent ? {} : { 'stroke-dasharray': '5 4' }),
        }),
      );
    }
    if (isCurrent) {
      for (const [i, v] of r.losses.entries()) {
        g.append(svg('circle', { cx: x(i + 1), cy: y(v), r: 2.5, fill: color }));
      }
    }
    return g;
  });
  const legend = svg('g', { class: 'legend' });
  shown.forEach((r, i) => {
    const label =
      `run ${r.run}: ${r.config.preset}, ${r.config.optimizer}, step ${r.config.step}` +
      (r.backend === 'wasm' ? '' : `, ${BACKEND_NAME[r.backend]}`) +
      (r.stopped ? ` (stopped after ${r.losses.length})` : '');
    const text = svg('text', { x: w - pad.right, y: 12 + 13 * i, 'text-anchor': 'end' }, label);
    text.setAttribute('style', `fill: ${r === run ? '#3b6fd8' : '#999'}`);
    legend.append(text);
  });
  chart.replaceChildren(yAxis, xAxis, frame, yTitle, xTitle, ...curves, legend);
  chart.dataset.epochs = String(run.losses.length);
  chart.dataset.run = String(run.run);
}

// ---- autoencoder reconstructions

/** An 8x8 image with values in [0, 1] (1 = ink) at (left, top), `scale` canvas pixels per pixel. */
function drawDigit(
  ctx: CanvasRenderingContext2D,
  pixels: ArrayLike<number>,
  left: number,
  top: number,
  scale: number,
): void {
  for (let i = 0; i < 64; i++) {
    const shade = Math.round(255 * (1 - Math.min(1, Math.max(0, pixels[i]!))));
    ctx.fillStyle = `rgb(${shade}, ${shade}, ${shade})`;
    ctx.fillRect(left + (i % 8) * scale, top + Math.floor(i / 8) * scale, scale, scale);
  }
}

function drawReconstructions(inputs: number[], outputs: number[], count: number): void {
  const canvas = $<HTMLCanvasElement>('recon');
  const ctx = canvas.getContext('2d')!;
  const cell = canvas.width / count;
  const scale = Math.floor((cell - 8) / 8);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < count; i++) {
    drawDigit(ctx, inputs.slice(i * 64, i * 64 + 64), i * cell + 4, 4, scale);
    drawDigit(ctx, outputs.slice(i * 64, i * 64 + 64), i * cell + 4, 8 * scale + 12, scale);
  }
  canvas.dataset.shown = String(count);
}

// ---- the drawing pad: strokes with the pointer; each finished stroke is classified

function showPrediction(probabilities: number[]): void {
  const best = probabilities.indexOf(Math.max(...probabilities));
  $('probs').replaceChildren(
    ...probabilities.map((p, k) => {
      const row = document.createElement('div');
      row.className = k === best ? 'bar top' : 'bar';
      const label = document.createElement('span');
      label.textContent = `${k}`;
      const bar = document.createElement('span');
      bar.style.width = `${Math.max(1, p * 160)}px`;
      const value = document.createElement('span');
      value.textContent = `${(100 * p).toFixed(1)} %`;
      row.append(label, bar, value);
      return row;
    }),
  );
  $('prediction').textContent =
    `prediction: ${best} (${(100 * probabilities[best]!).toFixed(1)} %)`;
  $('prediction').dataset.digit = String(best);
  $('prediction').dataset.request = String(requestId);
}

const pad = $<HTMLCanvasElement>('pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true })!;
padCtx.lineWidth = 14;
padCtx.lineCap = 'round';
padCtx.lineJoin = 'round';
padCtx.strokeStyle = '#000';
let drawing = false;

function at(e: PointerEvent): [number, number] {
  const r = pad.getBoundingClientRect();
  return [
    ((e.clientX - r.left) * pad.width) / r.width,
    ((e.clientY - r.top) * pad.height) / r.height,
  ];
}

pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  padCtx.beginPath();
  padCtx.moveTo(...at(e));
  padCtx.lineTo(...at(e));
  padCtx.stroke();
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  padCtx.lineTo(...at(e));
  padCtx.stroke();
});
pad.addEventListener('pointerup', () => {
  drawing = false;
  classifyDrawing();
});
$('clear').addEventListener('click', () => {
  padCtx.clearRect(0, 0, pad.width, pad.height);
  $<HTMLCanvasElement>('seen').getContext('2d')!.clearRect(0, 0, 96, 96);
  $('probs').replaceChildren();
  $('prediction').textContent = '';
  delete $('prediction').dataset.digit;
});

function classifyDrawing(): void {
  const { data } = padCtx.getImageData(0, 0, pad.width, pad.height);
  const alpha = new Uint8ClampedArray(pad.width * pad.height);
  for (let i = 0; i < alpha.length; i++) alpha[i] = data[i * 4 + 3]!;
  const pixels = toDigitPixels(alpha, pad.width, pad.height);
  drawDigit($<HTMLCanvasElement>('seen').getContext('2d')!, pixels, 0, 0, 12);
  requestId += 1;
  pad.dataset.request = String(requestId);
  send({ type: 'predict', id: requestId, pixels: Array.from(pixels) });
}

// The first run starts at once, on the backend and with the values the controls show.
startWorker(backendSelect.value as Backend);
const initial = readControls();
if (typeof initial === 'string') fail(initial);
else startRun(initial);
