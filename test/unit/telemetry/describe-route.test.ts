/** An edge event's route (issue 24: tested for control characters before replacing): never the query, no controls, bounded. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRoute } from '../../../src/telemetry/exchange-events.ts';

describe('describeRoute', () => {
  const cases: [string, [string, string, string], string][] = [
    ['a clean route as is', ['GET', 'api.example', '/v1/items'], 'GET api.example/v1/items'],
    ['the query dropped', ['GET', 'api.example', '/cb?code=secret&state=x'], 'GET api.example/cb'],
    ['only the first ? counts', ['POST', 'h', '/a?b?c'], 'POST h/a'],
    ['control characters removed', ['GET', 'h\u0000ost', '/a\r\nb\u007f\u001f'], 'GET host/ab'],
    ['controls in the query never matter', ['GET', 'h', '/a?x=\n'], 'GET h/a'],
    ['an empty request', ['', '', ''], ' '],
  ];
  for (const [name, args, want] of cases) it(name, () => assert.equal(describeRoute(...args), want));

  it('is at most 256 characters, after the controls are gone', () => {
    assert.equal(describeRoute('GET', 'h', `/${'a'.repeat(400)}`).length, 256);
    assert.equal(describeRoute('GET', 'h', `/${'\u0001'.repeat(400)}b`), 'GET h/b');
  });
});
