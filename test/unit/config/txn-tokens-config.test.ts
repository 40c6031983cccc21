/**
 * `txnTokens` (issue 22): absent = disabled; defaults (1m lifetime, 8 replacements); every refused
 * combination names its field; the CEL of requesters and `tctx` compiles at start.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../../src/config/load.ts';
import { configIssueAt as issueAt } from '../../helpers/config-issues.ts';
import { PolicyCompileError } from '../../../src/policy/index.ts';
import { CompactJwtSigner } from '../../../src/keys/jwt-signer.ts';
import { KeyStore } from '../../../src/keys/key-store.ts';
import { createTxnTokenIssuer } from '../../../src/txn-tokens/build.ts';

const mtls = {
  methods: ['tls_client_auth'],
  clients: [
    { id: 'gateway', tlsClientAuth: { spiffeId: 'spiffe://td.example/gateway' } },
    { id: 'orders', tlsClientAuth: { spiffeId: 'spiffe://td.example/orders' } },
  ],
};
const base = (txnTokens?: Record<string, unknown>, tokenEndpoint: Record<string, unknown> = {}): Record<string, unknown> => ({
  issuer: 'https://authjwt.example',
  audience: ['internal-services'],
  keys: { dir: '/var/run/secrets/authjwt/keys' },
  providers: [{ id: 'kc', issuer: 'https://sso.example/realms/main', audiences: ['frontend'] }],
  grpc: { plaintext: true },
  internalHttp: { tls: { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', clientCaFile: '/trust/ca.crt' } },
  tokenEndpoint: { enabled: true, url: 'https://authjwt.auth.svc:8081/token', clientAuthentication: mtls, ...tokenEndpoint },
  ...(txnTokens ? { txnTokens } : {}),
});
const minimal = { trustDomain: 'td.example', requesters: [{ client: 'gateway' }] };

describe('txnTokens configuration', () => {
  it('absent: disabled', () => {
    assert.equal(buildConfig(base()).txnTokens, undefined);
  });

  it('defaults: ttl 1m, 8 replacements, no computed tctx, requesters set nothing and replace nothing', () => {
    const t = buildConfig(base(minimal)).txnTokens!;
    assert.equal(t.ttl, 60_000);
    assert.equal(t.maxReplacements, 8);
    assert.deepEqual(t.tctx, {});
    assert.deepEqual(t.requesters, [{ client: 'gateway', requestDetails: [], requestContext: [], replace: false }]);
  });

  const refused: [string, Record<string, unknown>, string, RegExp, Record<string, unknown>?][] = [
    ['trustDomain is required', { requesters: [{ client: 'gateway' }] }, 'txnTokens.trustDomain', /./],
    ['ttl at most 15m', { ...minimal, ttl: '16m' }, 'txnTokens.ttl', /at most 900000ms/],
    ['at least one requester', { trustDomain: 'td.example', requesters: [] }, 'txnTokens.requesters', /./],
    [
      'requesters are registered clients',
      { ...minimal, requesters: [{ client: 'nobody' }] },
      'txnTokens.requesters[0].client',
      /not a client/,
    ],
    [
      'no duplicate requester',
      { ...minimal, requesters: [{ client: 'gateway' }, { client: 'gateway' }] },
      'txnTokens.requesters[1].client',
      /duplicate/,
    ],
    [
      'a computed tctx member cannot be set by a requester',
      { ...minimal, tctx: { level: 'claims.level' }, requesters: [{ client: 'gateway', requestDetails: ['level'] }] },
      'txnTokens.requesters[0].requestDetails[0]',
      /computed/,
    ],
    [
      'rctx.authn is asserted by authjwt',
      { ...minimal, requesters: [{ client: 'gateway', requestContext: ['authn'] }] },
      'txnTokens.requesters[0].requestContext[0]',
      /asserted/,
    ],
    ['the token endpoint must be enabled', minimal, 'txnTokens', /tokenEndpoint.enabled/, { enabled: false }],
  ];
  for (const [name, txn, path, message, endpoint] of refused) {
    it(`refused: ${name}`, () => assert.match(issueAt(base(txn, endpoint), path), message));
  }

  it('the CEL of requesters and tctx compiles at start, naming the field', () => {
    const signer = new CompactJwtSigner(new KeyStore({ publishLeadTime: 0 }));
    const bad = buildConfig(base({ ...minimal, tctx: { level: 'claims.level +' } })).txnTokens!;
    assert.throws(
      () => createTxnTokenIssuer(bad, { signer, issuer: undefined }),
      (e: unknown) => e instanceof PolicyCompileError && e.issues[0]!.path === 'txnTokens.tctx.level',
    );
    const badAllow = buildConfig(base({ ...minimal, requesters: [{ client: 'gateway', allow: 'claims.x +' }] })).txnTokens!;
    assert.throws(
      () => createTxnTokenIssuer(badAllow, { signer, issuer: undefined }),
      (e: unknown) => e instanceof PolicyCompileError && e.issues[0]!.path.startsWith('txnTokens.requesters[0].allow'),
    );
    const good = buildConfig(
      base({ ...minimal, tctx: { level: 'claims.level' }, requesters: [{ client: 'gateway', allow: ['claims.email_verified == true'] }] }),
    ).txnTokens!;
    assert.equal(createTxnTokenIssuer(good, { signer, issuer: undefined }).trustDomain, 'td.example');
  });
});
