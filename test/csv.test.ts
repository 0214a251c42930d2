// A user's CSV for the CLI (ts/tools/csv.ts): header detection, the label column by name, number
// or none, text labels as sorted class names, quotes, CRLF, and errors that name line and column.
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../ts/tools/csv.js';
import { expectError } from './helpers.js';

describe('parseCsv', () => {
  it('detects a header and takes the last column as the label by default', () => {
    const t = parseCsv('a,b,label\r\n1,2.5,0\r\n\r\n-3,4e2,2\r\n');
    expect(t.header).toEqual(['a', 'b', 'label']);
    expect(t.rows).toBe(2);
    expect(t.features).toBe(2);
    expect(Array.from(t.x)).toEqual([1, 2.5, -3, 400]);
    expect(Array.from(t.y!)).toEqual([0, 2]);
    expect(t.classNames).toBeNull();
    expect(t.labelIndex).toBe(2);
  });

  it('reads a table without a header, a label by column number, and no label at all', () => {
    const t = parseCsv('7,1,2\n8,3,4\n', { label: 1 });
    expect(t.header).toBeNull();
    expect(Array.from(t.y!)).toEqual([7, 8]);
    expect(Array.from(t.x)).toEqual([1, 2, 3, 4]);
    const none = parseCsv('1,2\n3,4\n', { label: null });
    expect(none.y).toBeNull();
    expect(none.features).toBe(2);
  });

  it('maps text labels onto sorted class names, or onto given ones', () => {
    const text = 'x,"species, name"\n1,virginica\n2,setosa\n3,"vir""ginica"\n4,setosa\n';
    const t = parseCsv(text, { label: 'species, name' });
    expect(t.classNames).toEqual(['setosa', 'vir"ginica', 'virginica']);
    expect(Array.from(t.y!)).toEqual([2, 0, 1, 0]);
    const given = parseCsv('1,b\n2,a\n', { classNames: ['b', 'a'] });
    expect(Array.from(given.y!)).toEqual([0, 1]);
  });

  it('names the line and column of a ragged row, a non-numeric cell and an empty label', () => {
    expectError(
      () => parseCsv('a,b,y\n1,2,0\n1,2\n', { source: 'd.csv' }),
      'BAD_FILE',
      /^parseCsv: expected 3 columns on every line of d\.csv \(as on line 1\), got 2 on line 3$/,
    );
    expectError(
      () => parseCsv('a,b,y\n1,2,0\n\n1,x1,0\n', { source: 'd.csv' }),
      'BAD_FILE',
      /^parseCsv: expected a number in d\.csv at line 4, column 2 \("b"\), got "x1"$/,
    );
    expectError(
      () => parseCsv('1,2,0\n1,Infinity,0\n'),
      'BAD_FILE',
      /^parseCsv: expected a number in CSV at line 2, column 2, got "Infinity"$/,
    );
    expectError(
      () => parseCsv('1,2,0\n1,2,\n'),
      'BAD_FILE',
      /^parseCsv: expected a label in CSV at line 2, column 3, got an empty cell$/,
    );
    expectError(() => parseCsv('\n\n'), 'BAD_FILE', /^parseCsv: expected rows in CSV, got none$/);
    expectError(
      () => parseCsv('a,"b\n1,2\n'),
      'BAD_FILE',
      /^parseCsv: expected a closing quote in CSV on line 1, got none$/,
    );
  });

  it('rejects a label column that does not exist, and labels outside the given classes', () => {
    expectError(
      () => parseCsv('a,b\n1,2\n', { label: 'c' }),
      'BAD_ARGUMENT',
      /^parseCsv: expected the label column to be one of "a", "b" or a column number, got "c"$/,
    );
    expectError(
      () => parseCsv('1,2\n', { label: 3 }),
      'BAD_ARGUMENT',
      /^parseCsv: expected the label column to be a number in \[1, 2\] for CSV, got 3$/,
    );
    expectError(
      () => parseCsv('1,c\n', { classNames: ['a', 'b'] }),
      'BAD_ARGUMENT',
      /^parseCsv: expected a label among "a", "b" in CSV, got "c" in data row 1$/,
    );
    expectError(
      () => parseCsv('1,1.5\n', { classNames: null }),
      'BAD_FILE',
      /^parseCsv: expected class indices \(integers >= 0\) as labels in CSV, got "1.5" in data row 1$/,
    );
  });
});
