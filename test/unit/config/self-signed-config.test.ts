/**
 * The `selfSigned` provider section (src/config/self-signed-schema.ts, issue 22) and `kubernetes.scopes`:
 * defaults, and every refused combination.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../../src/config/load.ts';
import { configIssueAt as issueAt } from '../../helpers/config-issues.ts';

const JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
const workload = { id: 'spiffe://cluster.local/ns/batch/sa/nightly', jwks: { keys: [JWK] } };
const base = (selfSigned: Record<string, unknown>, provider: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  issuer: 'https://authjwt.example',
  audience: ['internal-services'],
  keys: { dir: '/var/run/secrets/authjwt/keys' },
  ...top,
  providers: [{ id: 'workloads', ...provider, selfSigned: { replayStore: 'memory', workloads: [workload], ...selfSigned } }],
});

describe('selfSigned provider configuration', () => {
  it('defaults: aud = issuer (left to the verifier), ES256/ES384/EdDSA/Ed25519/PS256/RS256, 5m, replay protection on, no access tokens', () => {
    const c = buildConfig(base({}));
    const s = c.providers[0]!.selfSigned!;
    assert.equal(s.replayStore, 'memory');
    assert.equal(s.audience, undefined);
    assert.deepEqual(s.algorithms, ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256']);
    assert.equal(s.maxTokenLifetime, 300_000);
    assert.equal(s.replayProtection, true);
    assert.equal(s.accessTokens, false);
    assert.deepEqual(s.workloads[0]!.subjects, []);
    assert.equal(s.workloads[0]!.scopes, undefined);
    assert.equal(c.providers[0]!.oidc, undefined);
    assert.equal(c.providers[0]!.kubernetes, undefined);
  });
  it('warnings: any subject (*) and replay protection off are loud', () => {
    const c = buildConfig(base({ replayProtection: false, replayStore: undefined, workloads: [{ ...workload, subjects: ['*'] }] }));
    assert.ok(c.warnings.some((w) => /may assert any subject/.test(w)));
    assert.ok(c.warnings.some((w) => /replayProtection is off/.test(w)));
  });
  it('replayStore memory is loud (one replica only); redis shares the client-authentication Redis', () => {
    assert.ok(buildConfig(base({})).warnings.some((w) => /replayStore is memory/.test(w)));
    const redis = buildConfig(
      base(
        { replayStore: 'redis' },
        {},
        { tokenEndpoint: { clientAuthentication: { replayCache: { redis: { url: 'redis://redis.auth.svc:6379/0' } } } } },
      ),
    );
    assert.equal(redis.providers[0]!.selfSigned!.replayStore, 'redis');
    assert.ok(!redis.warnings.some((w) => /replayStore is memory/.test(w)));
  });
  const refused: [string, Record<string, unknown>, string, RegExp, Record<string, unknown>?][] = [
    [
      'both jwks and jwksFile',
      { workloads: [{ ...workload, jwksFile: '/x' }] },
      'providers[0].selfSigned.workloads[0]',
      /exactly one of jwks, jwksFile/,
    ],
    ['neither jwks nor jwksFile', { workloads: [{ id: 'w' }] }, 'providers[0].selfSigned.workloads[0]', /exactly one of jwks, jwksFile/],
    ['duplicate workload ids', { workloads: [workload, workload] }, 'providers[0].selfSigned.workloads[1].id', /duplicate workload id/],
    ['a symmetric algorithm', { algorithms: ['HS256'] }, 'providers[0].selfSigned.algorithms[0]', /./],
    ['a lifetime over 1h', { maxTokenLifetime: '2h' }, 'providers[0].selfSigned.maxTokenLifetime', /at most/],
    [
      'a scope that is not a scope-token',
      { workloads: [{ ...workload, scopes: ['a b'] }] },
      'providers[0].selfSigned.workloads[0].scopes[0]',
      /scope-token/,
    ],
    ['no workload', { workloads: [] }, 'providers[0].selfSigned.workloads', /./],
    [
      'no replayStore with replay protection',
      { replayStore: undefined },
      'providers[0].selfSigned.replayStore',
      /is required with replay protection/,
    ],
    [
      'replayStore redis without the client-authentication Redis',
      { replayStore: 'redis' },
      'providers[0].selfSigned.replayStore',
      /needs tokenEndpoint.clientAuthentication.replayCache.redis/,
    ],
  ];
  for (const [name, selfSigned, path, message] of refused) {
    it(`refused: ${name}`, () => assert.match(issueAt(base(selfSigned), path), message));
  }
  for (const field of ['issuer', 'audiences', 'algorithms', 'clientId', 'strategy']) {
    it(`refused: ${field} beside selfSigned (does not apply)`, () => {
      const value =
        field === 'issuer'
          ? 'https://sso.example'
          : field === 'audiences' || field === 'algorithms'
            ? ['ES256']
            : field === 'strategy'
              ? 'jwt'
              : 'x';
      assert.match(issueAt(base({}, { [field]: value }), `providers[0].${field}`), /does not apply to a selfSigned provider/);
    });
  }
  it('refused: a selfSigned provider as tokenEndpoint.defaultProvider or edge.defaultProvider', () => {
    assert.match(
      issueAt(base({}, {}, { tokenEndpoint: { defaultProvider: 'workloads' } }), 'tokenEndpoint.defaultProvider'),
      /is a selfSigned provider/,
    );
    assert.match(issueAt(base({}, {}, { edge: { defaultProvider: 'workloads' } }), 'edge.defaultProvider'), /is a selfSigned provider/);
  });
});

describe('kubernetes.scopes', () => {
  const k8s = (scopes: unknown) => ({
    issuer: 'https://authjwt.example',
    audience: ['internal-services'],
    keys: { dir: '/var/run/secrets/authjwt/keys' },
    providers: [{ id: 'cluster', audiences: ['authjwt'], kubernetes: { issuer: 'https://kubernetes.default.svc.cluster.local', scopes } }],
  });
  it('default: undefined (cannot be determined); configured: deduplicated', () => {
    assert.equal(buildConfig(k8s(undefined)).providers[0]!.kubernetes!.scopes, undefined);
    assert.deepEqual(buildConfig(k8s(['a', 'b', 'a'])).providers[0]!.kubernetes!.scopes, ['a', 'b']);
  });
  it('refused: a value that is not an RFC 6749 scope-token', () => {
    assert.match(issueAt(k8s(['has space']), 'providers[0].kubernetes.scopes[0]'), /scope-token/);
  });
});
