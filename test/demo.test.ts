// End-to-end test of the demo (web/) in headless Chromium: the page trains the conv net in its
// worker while a main-thread timer keeps firing, shows a test accuracy >= 0.9 and the
// autoencoder's reconstructions, and classifies digits the test draws with the mouse. Saves
// test-results/demo.png. Needs Debian's chromium (apt-get install -y chromium).
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../scripts/demo.js';
import { type Served, serve } from '../scripts/serve.js';
import { launchChromium } from './browser/chromium.js';
import { expectFreshDist } from './browser/dist-check.js';

/** Main-thread timer period of the probe the test installs (ms). */
const TICK_MS = 5;

let server: Served;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  expectFreshDist();
  server = await serve(await buildDemo('build/demo-test'));
  browser = await launchChromium();
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

describe('demo in headless Chromium', () => {
  it('trains in the worker with the main thread live, reaches 0.9, shows reconstructions', async () => {
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.state !== 'training', null, {
      timeout: 150_000,
    });
    expect(await page.evaluate(() => document.body.dataset.state)).toBe('done');
    expect(pageErrors).toEqual([]);

    const accuracy = Number(await page.getAttribute('#accuracy', 'data-value'));
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
    const timeTo90 = await page.evaluate(() => document.body.dataset.timeTo90);
    expect(timeTo90).toBeDefined();
    console.log(
      `demo: test accuracy ${accuracy.toFixed(3)}; reached 0.9 ${timeTo90} s after navigation (headless Chromium)`,
    );

    // The timer fires during epochs, not just between them: impossible if an epoch ran on the
    // main thread (then at most the one tick of the yield lands between two epoch reports).
    const { epochs, ticks } = await page.evaluate(() => ({
      epochs: (window as unknown as { demoEpochLog: Array<{ model: string; at: number }> })
        .demoEpochLog,
      ticks: (window as unknown as { probeTicks: number[] }).probeTicks,
    }));
    const times = epochs.filter((e) => e.model === 'classifier').map((e) => e.at);
    expect(times.length).toBe(15);
    const between = times
      .slice(1)
      .map((t, i) => ticks.filter((k) => k > times[i]! && k < t).length);
    const fired = between.reduce((a, b) => a + b, 0);
    console.log(
      `demo: the ${TICK_MS} ms main-thread timer fired ${fired} times within ${between.length} classifier epochs`,
    );
    expect(fired).toBeGreaterThanOrEqual(2 * between.length);

    expect(await page.getAttribute('#recon', 'data-shown')).toBe('10');
    const aeLosses = epochs.filter((e) => e.model === 'autoencoder');
    expect(aeLosses.length).toBe(30);
  }, 180_000);

  it('classifies digits the test draws', async () => {
    const predictions: Record<string, string> = {};
    // Pad pixels; the model and the drawing are deterministic, so the verdicts are too.
    for (const [digit, strokes] of [
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
    ] as const) {
      await page.click('#clear');
      for (const stroke of strokes) await draw(page, stroke as Array<[number, number]>);
      // The answer to the last stroke (each stroke asks for a prediction).
      await page.waitForFunction(
        () =>
          document.getElementById('prediction')!.dataset.request ===
          document.getElementById('pad')!.dataset.request,
      );
      predictions[digit] = (await page.getAttribute('#prediction', 'data-digit'))!;
      if (digit === '7') {
        mkdirSync('test-results', { recursive: true });
        await page.screenshot({ path: 'test-results/demo.png', fullPage: true });
      }
    }
    expect(predictions).toEqual({ 0: '0', 1: '1', 4: '4', 7: '7' });
  }, 60_000);
});
