// Data: the bundled digits (counts, range, the fixed split) and MNIST from the `mnist` package.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  DIGITS_TRAIN_COUNT,
  type TorchletError,
  fetchDigits,
  init,
  loadDigits,
  loadMnist,
  parseDigitsCsv,
} from '../ts/index.js';

await init();

describe('loadDigits', () => {
  it('is the documented file (sha256 from data/README.md)', () => {
    const sha = createHash('sha256')
      .update(readFileSync(new URL('../data/digits.csv.gz', import.meta.url)))
      .digest('hex');
    expect(sha).toBe('46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a');
  });

  it('splits 1438 / 359, pixels in [0, 1], every class in both sets, same split each call', () => {
    const { train, test } = loadDigits();
    expect(train.x.shape).toEqual([DIGITS_TRAIN_COUNT, 64]);
    expect(test.x.shape).toEqual([359, 64]);
    const px = train.x.data;
    expect(Math.min(...px)).toBe(0);
    expect(Math.max(...px)).toBe(1);
    for (const set of [train, test]) expect(new Set(set.y.data).size).toBe(10);
    const again = loadDigits();
    expect(Array.from(again.test.y.data)).toEqual(Array.from(test.y.data));
  });

  it('rejects a corrupt CSV with the line and column', () => {
    const row = Array(64).fill(0).join(',');
    expect(() => parseDigitsCsv(`${row},3\n${row}\n`)).toThrow(
      /expected 65 values per row, got 64 on line 2/,
    );
    expect(() => parseDigitsCsv(`${row.replace(/^0/, '17')},3\n`)).toThrow(
      /expected an integer in \[0, 16\] at line 1, column 1, got "17"/,
    );
  });
});

describe('loadMnist', () => {
  it('gives 8000 / 2000 samples of 784 pixels in [0, 1], deterministically', () => {
    const { train, test } = loadMnist();
    expect(train.x.shape).toEqual([8000, 784]);
    expect(test.x.shape).toEqual([2000, 784]);
    expect(train.y.shape).toEqual([8000]);
    const counts = new Array(10).fill(0);
    for (const v of test.y.data) counts[v]++;
    expect(counts.every((c) => c > 150)).toBe(true);
    const again = loadMnist({ layout: 'image' });
    expect(again.train.x.shape).toEqual([8000, 28, 28, 1]);
    expect(Array.from(again.train.y.data.subarray(0, 50))).toEqual(
      Array.from(train.y.data.subarray(0, 50)),
    );
    for (const t of [
      train.x,
      train.y,
      test.x,
      test.y,
      again.train.x,
      again.train.y,
      again.test.x,
      again.test.y,
    ])
      t.dispose();
  });
});

describe('fetchDigits', () => {
  it('gives the same data and split as loadDigits (Node reads the file)', async () => {
    const fetched = await fetchDigits();
    const loaded = loadDigits();
    expect(fetched.train.x.shape).toEqual([DIGITS_TRAIN_COUNT, 64]);
    expect(Array.from(fetched.test.y.data)).toEqual(Array.from(loaded.test.y.data));
    expect(Array.from(fetched.train.x.data)).toEqual(Array.from(loaded.train.x.data));
  });

  it('names the URL it could not read', async () => {
    await expect(
      fetchDigits({ url: new URL('./no-such.csv.gz', import.meta.url) }),
    ).rejects.toThrow(
      /^fetchDigits: expected the gzipped digits CSV at file:\/\/.*\/no-such\.csv\.gz, got ENOENT/,
    );
  });

  // Vite's dev server sends the .gz with `Content-Encoding: gzip`, so the browser hands fetch the
  // inflated CSV (issue 15); gzip's magic bytes 1f 8b tell the two apart.
  it('accepts the CSV already inflated, under the .gz name, and refuses an HTML page', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'torchlet-digits-'));
    const plain = join(dir, 'digits.csv.gz');
    writeFileSync(
      plain,
      gunzipSync(readFileSync(new URL('../data/digits.csv.gz', import.meta.url))),
    );
    const inflated = await fetchDigits({ url: pathToFileURL(plain) });
    const loaded = loadDigits();
    expect(Array.from(inflated.train.x.data)).toEqual(Array.from(loaded.train.x.data));
    expect(Array.from(inflated.test.y.data)).toEqual(Array.from(loaded.test.y.data));
    const html = join(dir, 'index.html');
    writeFileSync(html, '<!doctype html><title>app</title>');
    const e = await fetchDigits({ url: pathToFileURL(html) }).then(
      () => null,
      (err: unknown) => err as TorchletError,
    );
    expect(e?.code).toBe('BAD_FILE');
    expect(e?.message).toMatch(
      /^fetchDigits: expected the gzipped digits CSV at file:.*\/index\.html, got an HTML page; serve digits\.csv\.gz next to the bundle \(copy torchlet\/dist\/digits\.csv\.gz\) or pass fetchDigits\(\{ url \}\)$/,
    );
  });
});
