/** Duration fields of the config: `15m`, `30s`, `1h30m`, `250ms` or a number of seconds → milliseconds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from '../../../src/config/duration.ts';

describe('parseDuration', () => {
  const invalid: { input: string | number; why: string }[] = [
    { input: '15 minutes', why: 'unit words are not units' },
    { input: '15 m', why: 'space between number and unit' },
    { input: '15M', why: 'units are lower case' },
    { input: '1m30', why: 'trailing number without unit' },
    { input: '1x', why: 'unknown unit' },
    { input: 'm', why: 'unit without number' },
    { input: '', why: 'empty' },
    { input: '   ', why: 'blank' },
    { input: '-1s', why: 'negative' },
    { input: '1e3s', why: 'exponent notation' },
    { input: '.5s', why: 'no leading digit' },
    { input: -1, why: 'negative number' },
    { input: Number.NaN, why: 'NaN' },
    { input: Number.POSITIVE_INFINITY, why: 'infinite' },
  ];
  for (const { input, why } of invalid) {
    it(`rejects ${JSON.stringify(String(input))} (${why})`, () => {
      assert.equal(parseDuration(input), undefined);
    });
  }

  const valid: { input: string | number; ms: number }[] = [
    { input: '15m', ms: 900_000 },
    { input: '30s', ms: 30_000 },
    { input: '1h', ms: 3_600_000 },
    { input: '250ms', ms: 250 },
    { input: '1d', ms: 86_400_000 },
    { input: '1h30m', ms: 5_400_000 },
    { input: '1m1s1ms', ms: 61_001 },
    { input: '1.5s', ms: 1_500 },
    { input: ' 15m ', ms: 900_000 },
    { input: '0', ms: 0 },
    { input: '90', ms: 90_000 },
    { input: 90, ms: 90_000 },
    { input: 0.25, ms: 250 },
  ];
  for (const { input, ms } of valid) {
    it(`parses ${JSON.stringify(input)} as ${ms} ms`, () => {
      assert.equal(parseDuration(input), ms);
    });
  }
});
