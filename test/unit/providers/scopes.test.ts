/**
 * The scopes of a subject token (issue 22, VerifiedIdentity.scopes): how a provider's scope value is
 * read (src/providers/token-rules.ts) — RFC 6749 §3.3 strings, arrays, `scope` over `scp` — and when it
 * cannot be determined (undefined: a Txn-Token request is then refused, draft-ietf-oauth-transaction-tokens).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identityFrom, MAX_SCOPES, parseScopes, scopesOfClaims } from '../../../src/providers/token-rules.ts';

describe('scopes of a subject token', () => {
  it('RFC 6749 §3.3 space-delimited string: split, deduplicated, in order; empty string → [] (known: none)', () => {
    assert.deepEqual(parseScopes('openid  orders.read openid'), ['openid', 'orders.read']);
    assert.deepEqual(parseScopes(''), []);
    assert.deepEqual(parseScopes([]), []);
  });
  it('arrays of strings (Okta scp, GitLab token info, GitHub scopes)', () => {
    assert.deepEqual(parseScopes(['api', 'read_user']), ['api', 'read_user']);
  });
  it('GitHub X-OAuth-Scopes ("repo, user:email") with a comma separator', () => {
    assert.deepEqual(parseScopes('repo, user:email', /[\s,]+/), ['repo', 'user:email']);
    assert.deepEqual(parseScopes('', /[\s,]+/), []);
  });
  const undetermined: [string, unknown][] = [
    ['a number', 42],
    ['null', null],
    ['an object', { a: 1 }],
    ['an array with a non-string', ['a', 1]],
    ['a value with a double quote (not a scope-token)', 'a"b'],
    ['a value with a backslash', ['a\\b']],
    ['a control character', 'a\u0001b'],
    ['a non-ASCII value', 'café'],
    ['a value over 256 characters', 'x'.repeat(257)],
    [`more than ${MAX_SCOPES} scopes`, Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `s${i}`)],
  ];
  for (const [name, value] of undetermined) {
    it(`malformed → undefined (cannot be determined, never unconstrained): ${name}`, () => {
      assert.equal(parseScopes(value), undefined);
    });
  }
  it('claims: `scope` (string), else `scp` (Entra ID string, Okta array); `scope` wins when both; neither → undefined', () => {
    assert.deepEqual(scopesOfClaims({ scope: 'a b' }), ['a', 'b']);
    assert.deepEqual(scopesOfClaims({ scp: 'User.Read Mail.Send' }), ['User.Read', 'Mail.Send']);
    assert.deepEqual(scopesOfClaims({ scp: ['x', 'y'] }), ['x', 'y']);
    assert.deepEqual(scopesOfClaims({ scope: 'a', scp: ['b'] }), ['a']);
    assert.equal(scopesOfClaims({ sub: 'x' }), undefined);
    assert.equal(scopesOfClaims({ scope: 7, scp: ['b'] }), undefined, 'a malformed scope is not replaced by scp');
  });
  it('an inherited `scope` is not read (own properties only)', () => {
    assert.equal(scopesOfClaims(Object.create({ scope: 'admin' }) as Record<string, unknown>), undefined);
  });
  it('jwt and introspection identities carry the scopes of their claims (the shared identityFrom)', () => {
    assert.deepEqual(identityFrom({ sub: 'u1', scope: 'openid profile' }, 'sub', 'jwt').scopes, ['openid', 'profile']);
    assert.deepEqual(identityFrom({ sub: 'u1', scope: 'orders' }, 'sub', 'introspection').scopes, ['orders']);
    assert.equal(identityFrom({ sub: 'u1' }, 'sub', 'introspection').scopes, undefined);
  });
  it('the parsed list is frozen (a cached identity cannot be altered through it)', () => {
    assert.ok(Object.isFrozen(parseScopes('a b')));
  });
});
