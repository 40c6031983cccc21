/** The unverified-issuer peek (issue 24): remembered per payload segment, never confusing two tokens, bounded. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createIssuerPeek } from '../../../src/exchange/issuer-peek.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (payload: unknown, signature = 'sig') => `${b64({ alg: 'ES256' })}.${b64(payload)}.${signature}`;

describe('createIssuerPeek', () => {
  it('names the issuer of each token, repeated or not, and never mixes two payloads up', () => {
    const peek = createIssuerPeek({ maxEntries: 16 });
    const a = jwt({ iss: 'https://a.example', sub: '1' });
    const b = jwt({ iss: 'https://b.example', sub: '1' });
    for (let round = 0; round < 3; round++) {
      assert.equal(peek.issuerOf(a), 'https://a.example');
      assert.equal(peek.issuerOf(b), 'https://b.example');
    }
    assert.equal(peek.size, 2);
    // Same payload, another signature: the same (unverified) issuer; the verifier decides the rest.
    assert.equal(peek.issuerOf(jwt({ iss: 'https://a.example', sub: '1' }, 'other')), 'https://a.example');
    assert.equal(peek.size, 2);
  });

  it('answers undefined for what is not a JWT with a string iss, remembered or not', () => {
    const peek = createIssuerPeek({ maxEntries: 16 });
    for (let round = 0; round < 2; round++) {
      assert.equal(peek.issuerOf('opaque-token'), undefined);
      assert.equal(peek.issuerOf('a..c'), undefined, 'empty payload');
      assert.equal(peek.issuerOf('a.b.c.d'), undefined, 'four segments');
      assert.equal(peek.issuerOf(jwt({ sub: '1' })), undefined, 'no iss');
      assert.equal(peek.issuerOf(jwt({ iss: 7 })), undefined, 'iss not a string');
      assert.equal(peek.issuerOf(jwt(null)), undefined);
      assert.equal(peek.issuerOf('a.bm90IGpzb24.c'), undefined, 'payload not JSON');
    }
  });

  it('is bounded: a stream of distinct tokens never holds more than maxEntries', () => {
    const peek = createIssuerPeek({ maxEntries: 4 });
    for (let i = 0; i < 50; i++) assert.equal(peek.issuerOf(jwt({ iss: `https://i${i}.example` })), `https://i${i}.example`);
    assert.equal(peek.size, 4);
    // An evicted payload is parsed again, with the same answer.
    assert.equal(peek.issuerOf(jwt({ iss: 'https://i0.example' })), 'https://i0.example');
  });

  it('does not remember oversize or non-base64url payload segments, and still answers for them', () => {
    const peek = createIssuerPeek({ maxEntries: 4 });
    const big = jwt({ iss: 'https://big.example', pad: 'x'.repeat(5000) });
    assert.equal(peek.issuerOf(big), 'https://big.example');
    // Node's base64url decoder skips characters outside the alphabet: answered, never remembered.
    const payload = b64({ iss: 'https://odd.example' });
    assert.equal(peek.issuerOf(`h.${payload}!.s`), 'https://odd.example');
    assert.equal(peek.size, 0);
  });

  it('with maxEntries 0 remembers nothing and still answers', () => {
    const peek = createIssuerPeek({ maxEntries: 0 });
    assert.equal(peek.issuerOf(jwt({ iss: 'https://a.example' })), 'https://a.example');
    assert.equal(peek.size, 0);
  });
});
