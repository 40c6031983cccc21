/**
 * The keyring's rules, on a frozen clock: what is published, which key signs and when, how removed keys
 * stay published for their tokens, and the JWKS validator.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { parseKeyFile, type SigningKey } from '../../../src/keys/key-file.ts';
import { KeyStore } from '../../../src/keys/key-store.ts';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const MIN = 60_000;
const LEAD = 10 * MIN;

/** A clock that only moves when the test says so. */
function frozenClock(start = T0) {
  let now = start;
  return {
    now: () => now,
    set: (t: number) => {
      now = t;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const material: Record<string, string> = {};
/** A distinct EC P-256 key with the given kid and optional activation time (ms). */
async function key(kid: string, notBefore?: number): Promise<SigningKey> {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  material[kid] = jwk.d!;
  const [k] = await parseKeyFile(
    `${kid}.json`,
    JSON.stringify({ ...jwk, kid, ...(notBefore !== undefined ? { nbf: notBefore / 1000 } : {}) }),
  );
  return k!;
}
async function rsaKey(kid: string): Promise<SigningKey> {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const [k] = await parseKeyFile(`${kid}.json`, JSON.stringify({ ...jwk, kid }));
  return k!;
}

const newStore = (clock = frozenClock()) => ({ clock, store: new KeyStore({ publishLeadTime: LEAD, clock: clock.now }) });
const publishedKids = (store: KeyStore) =>
  store
    .jwks()
    .keys.map((k) => k.kid)
    .sort();
const signingKid = (store: KeyStore) => store.currentSigningKey()?.kid;

describe('KeyStore', () => {
  let a: SigningKey, b: SigningKey, c: SigningKey;
  before(async () => {
    [a, b, c] = await Promise.all([key('a'), key('b'), key('c')]);
  });

  describe('before any key is loaded', () => {
    it('has no signing key and publishes an empty set', () => {
      const { store } = newStore();
      assert.equal(store.currentSigningKey(), undefined);
      assert.deepEqual(JSON.parse(store.jwks().body), { keys: [] });
      assert.equal(store.status().signingKid, undefined);
    });
  });

  describe('activation', () => {
    it('a key whose only copy is not yet active leaves no signing key', async () => {
      const { store, clock } = newStore();
      store.replaceKeys([await key('future', T0 + MIN)]);
      assert.equal(store.currentSigningKey(), undefined);
      assert.deepEqual(publishedKids(store), ['future'], 'published before it signs');
      clock.set(T0 + MIN - 1);
      assert.equal(store.currentSigningKey(), undefined);
      clock.set(T0 + MIN);
      assert.equal(signingKid(store), 'future');
    });

    it('keys present at the first load sign at once', () => {
      const { store } = newStore();
      store.replaceKeys([a]);
      assert.equal(signingKid(store), 'a');
      assert.deepEqual(publishedKids(store), ['a']);
    });

    it('a key added later is published at once but signs only after publishLeadTime', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a]);
      clock.advance(3 * MIN);
      const addedAt = clock.now();
      store.replaceKeys([a, b]);
      assert.deepEqual(publishedKids(store), ['a', 'b']);
      assert.equal(signingKid(store), 'a');
      clock.set(addedAt + LEAD - 1);
      assert.equal(signingKid(store), 'a');
      clock.set(addedAt + LEAD);
      assert.equal(signingKid(store), 'b');
    });

    it('reloading the same keys does not restart the lead time', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a]);
      clock.advance(MIN);
      const addedAt = clock.now();
      store.replaceKeys([a, b]);
      clock.advance(LEAD / 2);
      store.replaceKeys([b, a]);
      clock.set(addedAt + LEAD);
      assert.equal(signingKid(store), 'b');
    });

    it('an explicit notBefore in the future delays signing even for keys at the first load', async () => {
      const { store, clock } = newStore();
      const later = await key('z-later', T0 + 30 * MIN);
      store.replaceKeys([a, later]);
      assert.equal(signingKid(store), 'a');
      clock.set(T0 + 30 * MIN - 1);
      assert.equal(signingKid(store), 'a');
      clock.set(T0 + 30 * MIN);
      assert.equal(signingKid(store), 'z-later');
    });

    it('of the active keys, the one activated last signs', async () => {
      const { store, clock } = newStore();
      const keys = await Promise.all([key('k1', T0 - 2 * 3_600_000), key('k3', T0 + 3_600_000), key('k2', T0 - 3_600_000)]);
      store.replaceKeys(keys);
      assert.equal(signingKid(store), 'k2');
      clock.set(T0 + 3_600_000);
      assert.equal(signingKid(store), 'k3');
    });

    it('a key added later with a notBefore earlier than the lead time still waits out the lead time', async () => {
      const { store, clock } = newStore();
      store.replaceKeys([a]);
      const early = await key('early', T0 + MIN);
      store.replaceKeys([a, early]);
      clock.set(T0 + MIN);
      assert.equal(signingKid(store), 'a');
      clock.set(T0 + LEAD);
      assert.equal(signingKid(store), 'early');
    });

    it('a tie among keys active at once goes to the smallest kid, whatever the file order', () => {
      for (const order of [
        [c, b, a],
        [b, a, c],
        [a, c, b],
      ]) {
        const { store } = newStore();
        store.replaceKeys(order);
        assert.equal(signingKid(store), 'a', `order ${order.map((k) => k.kid).join(',')}`);
      }
    });

    it('a tie among keys added later at the same time goes to the smallest kid', async () => {
      const { store, clock } = newStore();
      store.replaceKeys([c]);
      clock.advance(MIN);
      const [y, x] = await Promise.all([key('y'), key('x')]);
      store.replaceKeys([c, y, x]);
      clock.advance(LEAD);
      assert.equal(signingKid(store), 'x');
    });
  });

  describe('removal', () => {
    it('a removed key that never signed disappears from the JWKS at once', () => {
      const { store } = newStore();
      store.replaceKeys([a, b]);
      store.replaceKeys([a]);
      assert.deepEqual(publishedKids(store), ['a']);
    });

    it('a removed key that signed stays published until its last token expires, then disappears', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a, b]);
      assert.equal(signingKid(store), 'a');
      store.recordUse('a', T0 + 10 * MIN);
      store.recordUse('a', T0 + 15 * MIN);
      store.recordUse('a', T0 + 12 * MIN); // an earlier expiry does not shorten it
      clock.advance(MIN);
      store.replaceKeys([b]);
      assert.equal(signingKid(store), 'b', 'the remaining key was present at the first load: signs at once');
      assert.deepEqual(publishedKids(store), ['a', 'b']);
      clock.set(T0 + 15 * MIN - 1);
      assert.equal(store.nextChangeAt(), T0 + 15 * MIN, 'the key manager wakes the store exactly then');
      store.advance();
      assert.deepEqual(publishedKids(store), ['a', 'b']);
      clock.set(T0 + 15 * MIN);
      assert.deepEqual(publishedKids(store), ['a', 'b'], 'jwks() is a query: nothing changes until advance()');
      store.advance();
      assert.deepEqual(publishedKids(store), ['b']);
      assert.equal(store.nextChangeAt(), undefined);
    });

    it('a removed key whose tokens already expired disappears at once', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a, b]);
      store.recordUse('a', T0 + MIN);
      clock.set(T0 + MIN);
      store.replaceKeys([b]);
      assert.deepEqual(publishedKids(store), ['b']);
    });

    it('a removed key that comes back is published again and no longer retired', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a, b]);
      store.recordUse('a', T0 + 5 * MIN);
      store.replaceKeys([b]);
      store.replaceKeys([a, b]);
      clock.set(T0 + 60 * MIN);
      assert.deepEqual(publishedKids(store), ['a', 'b']);
    });

    // Regression: a retired key signing as the fallback kept its first expiry and was unpublished while
    // tokens it signed afterwards were still valid.
    it('a replaced key that keeps signing until its successor is active stays published for its newest token', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a]);
      store.recordUse('a', T0 + 15 * MIN);
      clock.set(T0 + MIN);
      store.replaceKeys([b]); // replaced in place: b waits out the lead time
      clock.set(T0 + 5 * MIN);
      const signer = store.currentSigningKey();
      assert.equal(signer?.kid, 'a', 'the replaced key keeps signing');
      store.recordUse('a', T0 + 20 * MIN);
      clock.set(T0 + MIN + LEAD);
      assert.equal(signingKid(store), 'b');
      clock.set(T0 + 15 * MIN);
      store.advance();
      assert.deepEqual(publishedKids(store), ['a', 'b'], 'the token signed at T0+5m is valid until T0+20m');
      clock.set(T0 + 20 * MIN);
      store.advance();
      assert.deepEqual(publishedKids(store), ['b']);
    });
  });

  describe('JWKS', () => {
    it('contains only public members, with kid, alg and use: sig', async () => {
      const { store } = newStore();
      const r = await rsaKey('r');
      store.replaceKeys([a, r]);
      const body = JSON.parse(store.jwks().body) as { keys: Record<string, unknown>[] };
      const allowed = new Set(['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use']);
      assert.equal(body.keys.length, 2);
      for (const k of body.keys) {
        assert.deepEqual(
          Object.keys(k).filter((m) => !allowed.has(m)),
          [],
          `unexpected members in ${String(k.kid)}`,
        );
        assert.equal(k.use, 'sig');
        assert.equal(typeof k.alg, 'string');
      }
      assert.ok(!store.jwks().body.includes(material.a!), 'private scalar of a');
      assert.deepEqual(store.jwks().keys, JSON.parse(store.jwks().body).keys);
    });

    it('ETag changes when the key set changes and not otherwise', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a, b]);
      const first = store.jwks();
      assert.match(first.etag, /^"[A-Za-z0-9_-]{27}"$/);

      store.replaceKeys([b, a]);
      clock.advance(LEAD * 3);
      assert.equal(store.jwks().etag, first.etag, 'same keys in another order, time passing');
      assert.equal(store.jwks().body, first.body);
      store.recordReloadFailure('ERR_AUTHJWT_KEYS_FILE_INVALID', 'boom');
      assert.equal(store.jwks().etag, first.etag, 'a failed reload');

      store.replaceKeys([a, b, c]);
      const added = store.jwks().etag;
      assert.notEqual(added, first.etag, 'key added');

      store.replaceKeys([a, b]);
      assert.notEqual(store.jwks().etag, added, 'key removed');
      assert.equal(store.jwks().etag, first.etag, 'back to the same set');
    });

    it('ETag changes when a retired key expires out of the set', () => {
      const { store, clock } = newStore();
      store.replaceKeys([a, b]);
      store.recordUse('a', T0 + MIN);
      store.replaceKeys([b]);
      const withRetired = store.jwks().etag;
      clock.set(T0 + MIN);
      store.advance();
      assert.notEqual(store.jwks().etag, withRetired);
    });
  });

  describe('status()', () => {
    it('reports published and signing keys, the signing kid and since when, and reloads', async () => {
      const { store, clock } = newStore();
      const before = store.status();
      assert.deepEqual(before, {
        publishedKeys: 0,
        signingKeys: 0,
        signingKid: undefined,
        signingSince: undefined,
        lastReloadAt: undefined,
        lastReloadError: undefined,
        lastReloadDetail: undefined,
      });

      store.replaceKeys([a, await key('b-future', T0 + 30 * MIN)]);
      assert.deepEqual(store.status(), {
        publishedKeys: 2,
        signingKeys: 1,
        signingKid: 'a',
        signingSince: T0,
        lastReloadAt: T0,
        lastReloadError: undefined,
        lastReloadDetail: undefined,
      });

      clock.set(T0 + 2 * MIN);
      store.replaceKeys([a]); // the future key withdrawn before it ever signed
      assert.equal(store.status().publishedKeys, 1);

      store.recordReloadFailure('ERR_AUTHJWT_KEYS_FILE_INVALID', 'key.pem: cannot parse private key');
      assert.deepEqual(store.status(), {
        publishedKeys: 1,
        signingKeys: 1,
        signingKid: 'a',
        signingSince: T0,
        lastReloadAt: T0 + 2 * MIN,
        lastReloadError: 'ERR_AUTHJWT_KEYS_FILE_INVALID',
        lastReloadDetail: 'key.pem: cannot parse private key',
      });

      clock.set(T0 + 3 * MIN);
      store.replaceKeys([a, c]);
      assert.deepEqual(store.status(), {
        publishedKeys: 2,
        signingKeys: 1,
        signingKid: 'a',
        signingSince: T0,
        lastReloadAt: T0 + 3 * MIN,
        lastReloadError: undefined,
        lastReloadDetail: undefined,
      });
      clock.set(T0 + 3 * MIN + LEAD);
      assert.deepEqual(store.status(), {
        publishedKeys: 2,
        signingKeys: 2,
        signingKid: 'c',
        signingSince: T0 + 3 * MIN + LEAD,
        lastReloadAt: T0 + 3 * MIN,
        lastReloadError: undefined,
        lastReloadDetail: undefined,
      });
    });

    it('counts retired keys as published but not as signing keys', () => {
      const { store } = newStore();
      store.replaceKeys([a, b]);
      store.recordUse('a', T0 + MIN);
      store.replaceKeys([b]);
      assert.equal(store.status().publishedKeys, 2);
      assert.equal(store.status().signingKeys, 1);
    });

    it('notifies listeners after successful and failed reloads until unsubscribed', () => {
      const { store } = newStore();
      let calls = 0;
      const off = store.onChange(() => calls++);
      store.replaceKeys([a]);
      store.recordReloadFailure('ERR_AUTHJWT_KEYS_FILE_INVALID', 'x');
      assert.equal(calls, 2);
      off();
      store.replaceKeys([a, b]);
      assert.equal(calls, 2);
    });
  });
});
