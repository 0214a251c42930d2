// The demo page: starts the training worker and draws what it reports (loss curves, accuracy,
// reconstructions), and sends drawings to it for classification. No torchlet import here: the
// main thread never computes, so it stays responsive.
import { toDigitPixels } from './digit.js';
import type { FromWorker, PredictRequest } from './protocol.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const losses = { classifier: [] as number[], autoencoder: [] as number[] };
/** Every epoch report with its arrival time (performance.now()), for the end-to-end test. */
const epochLog: Array<{ model: string; epoch: number; at: number }> = [];
(window as unknown as { demoEpochLog: typeof epochLog }).demoEpochLog = epochLog;
let requestId = 0;

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
document.body.dataset.state = 'training';
worker.addEventListener('error', (e) => fail(e.message || 'the worker failed to load'));
worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'status':
      $('status').textContent = m.text;
      break;
    case 'epoch':
      losses[m.model].push(m.loss);
      epochLog.push({ model: m.model, epoch: m.epoch, at: performance.now() });
      drawCurve(
        $('loss-' + m.model),
        losses[m.model],
        m.epochs,
        m.model === 'classifier' ? '#3b6fd8' : '#e0672a',
      );
      if (m.accuracy !== undefined) showAccuracy(m.accuracy, m.epoch);
      $('status').textContent =
        `${m.model}: epoch ${m.epoch + 1} / ${m.epochs}, loss ${m.loss.toFixed(4)}`;
      break;
    case 'reconstructions':
      drawReconstructions(m.inputs, m.outputs, m.count);
      break;
    case 'prediction':
      if (m.id === requestId) showPrediction(m.probabilities);
      break;
    case 'done':
      document.body.dataset.state = 'done';
      $('status').textContent =
        `done: ${losses.classifier.length} conv-net epochs and ${losses.autoencoder.length} autoencoder epochs, all in the worker`;
      break;
    case 'error':
      fail(m.message);
      break;
  }
});

function fail(message: string): void {
  document.body.dataset.state = 'error';
  $('status').textContent = `error: ${message}`;
}

let ticks = 0;
setInterval(() => {
  $('heartbeat').textContent = String(++ticks);
}, 100);

function showAccuracy(value: number, epoch: number): void {
  const el = $('accuracy');
  el.textContent = value.toFixed(3);
  el.dataset.value = String(value);
  if (value >= 0.9 && document.body.dataset.timeTo90 === undefined) {
    const seconds = performance.now() / 1000;
    document.body.dataset.timeTo90 = seconds.toFixed(2);
    $('time-to-90').textContent =
      `(reached 0.9 at epoch ${epoch + 1}, ${seconds.toFixed(1)} s after the page started loading)`;
  }
}

/** A loss curve: epochs on x (0..epochs), loss on y from 0 to the largest value so far. */
function drawCurve(
  canvas: HTMLCanvasElement,
  values: number[],
  epochs: number,
  color: string,
): void {
  const ctx = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  const pad = { left: 44, right: 10, top: 10, bottom: 22 };
  const top = Math.max(...values);
  const x = (i: number): number => pad.left + ((w - pad.left - pad.right) * (i + 1)) / epochs;
  const y = (v: number): number => h - pad.bottom - ((h - pad.top - pad.bottom) * v) / top;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#bbb';
  ctx.fillStyle = '#555';
  ctx.font = '11px system-ui, sans-serif';
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top);
  ctx.lineTo(pad.left, h - pad.bottom);
  ctx.lineTo(w - pad.right, h - pad.bottom);
  ctx.stroke();
  ctx.fillText(top.toPrecision(3), 4, pad.top + 8);
  ctx.fillText('0', pad.left - 12, h - pad.bottom);
  ctx.fillText(`epoch ${values.length} / ${epochs}`, w - 100, h - 6);
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  values.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
  ctx.stroke();
  ctx.fillStyle = color;
  for (const [i, v] of values.entries()) ctx.fillRect(x(i) - 2, y(v) - 2, 4, 4);
}

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

// The drawing pad: strokes with the pointer; each finished stroke is classified.
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
  const request: PredictRequest = { type: 'predict', id: ++requestId, pixels: Array.from(pixels) };
  pad.dataset.request = String(request.id);
  worker.postMessage(request);
}
