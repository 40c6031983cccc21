/**
 * `tokenEndpoint.clientAuthentication` and `tokenEndpoint.delegation` (issue 21): defaults (today's
 * configs keep working, with the deprecation warning), every refused combination naming its field, the
 * loud warnings, and secrets read at load and never printed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../../src/config/load.ts';
import { configIssueAt as issueAt } from '../../helpers/config-issues.ts';

const KEYS = {
  keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }],
};
const base = (tokenEndpoint: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  issuer: 'https://authjwt.example',
  audience: ['internal-services'],
  keys: { dir: '/var/run/secrets/authjwt/keys' },
  providers: [
    { id: 'github', preset: 'github', clientId: 'Iv1.x', clientSecret: 'y' },
    { id: 'kc', issuer: 'https://sso.example/realms/main', audiences: ['frontend'] },
  ],
  grpc: { plaintext: true },
  tokenEndpoint: { enabled: true, url: 'http://authjwt.auth.svc:8081/token', ...tokenEndpoint },
  ...extra,
});
const auth = (clientAuthentication: Record<string, unknown>, extra: Record<string, unknown> = {}) => base({ clientAuthentication }, extra);
const mtlsListener = { internalHttp: { tls: { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', clientCaFile: '/trust/ca.crt' } } };

describe('tokenEndpoint.clientAuthentication', () => {
  it('unset: method none as before, with the deprecation warning; an explicit [none] silences it', () => {
    const c = buildConfig(base());
    assert.equal(c.tokenEndpoint.clientAuthentication.methods, undefined);
    assert.deepEqual(c.tokenEndpoint.delegation, { actor: 'token' });
    assert.ok(
      c.warnings.some((w) => /clientAuthentication\.methods is not set: .*\(method none\).* removed in 1\.0/.test(w)),
      c.warnings.join('\n'),
    );
    assert.deepEqual(buildConfig(auth({ methods: ['none'] })).warnings, []);
    assert.ok(
      !buildConfig({ ...base(), tokenEndpoint: { enabled: false } }).warnings.some((w) => /clientAuthentication/.test(w)),
      'only when the endpoint is on',
    );
  });

  it('accepts every method together; defaults of the replay cache and lifetimes', () => {
    const c = buildConfig(
      auth(
        {
          methods: ['tls_client_auth', 'private_key_jwt', 'federated_jwt'],
          clients: [
            { id: 'orders', tlsClientAuth: { spiffeId: 'spiffe://cluster.local/ns/orders/sa/orders' } },
            { id: 'reports', privateKeyJwt: { jwks: KEYS } },
            { id: 'mesh-orders', federated: { trustSource: 'mesh', subject: 'spiffe://cluster.local/ns/orders/sa/orders' } },
            { id: 'k8s-orders', federated: { trustSource: 'kc-source', subject: 'system:serviceaccount:orders:orders' } },
          ],
          trustSources: [
            { id: 'mesh', kind: 'spiffe', trustDomain: 'cluster.local', bundleFile: '/spiffe/bundle.jwks' },
            { id: 'kc-source', kind: 'provider', provider: 'kc' },
          ],
          replayCache: { store: 'redis', redis: { url: 'redis://127.0.0.1:6379/0' } },
        },
        mtlsListener,
      ),
    );
    const a = c.tokenEndpoint.clientAuthentication;
    assert.equal(a.maxAssertionLifetime, 300_000);
    assert.equal(a.trustSources[0]!.maxLifetime, 3_600_000);
    assert.deepEqual(a.replayCache.redis, {
      url: 'redis://127.0.0.1:6379/0',
      keyPrefix: 'authjwt:jti:',
      connectTimeout: 2_000,
      commandTimeout: 500,
    });
    assert.deepEqual(c.warnings, []);
  });

  const refused: [string, Record<string, unknown>, string, RegExp][] = [
    [
      'tls_client_auth without a trust bundle',
      auth({ methods: ['tls_client_auth'], clients: [{ id: 'a', tlsClientAuth: { sanDns: 'a' } }] }),
      'tokenEndpoint.clientAuthentication.methods',
      /needs internalHttp\.tls with clientCaFile/,
    ],
    [
      'a method no client uses',
      auth({ methods: ['none', 'private_key_jwt'] }),
      'tokenEndpoint.clientAuthentication.methods',
      /private_key_jwt is listed but no client uses it/,
    ],
    [
      'a client method that methods does not list',
      auth({
        methods: ['none'],
        clients: [{ id: 'a', federated: { trustSource: 't', subject: 's' } }],
        trustSources: [{ id: 't', kind: 'oidc', issuer: 'https://ci.example' }],
      }),
      'tokenEndpoint.clientAuthentication.clients[0].federated',
      /needs federated_jwt in methods/,
    ],
    [
      'two identities in tlsClientAuth',
      auth({ methods: ['tls_client_auth'], clients: [{ id: 'a', tlsClientAuth: { sanDns: 'a', sanUri: 'https://a' } }] }, mtlsListener),
      'tokenEndpoint.clientAuthentication.clients[0].tlsClientAuth',
      /exactly one of spiffeId, subjectDn, sanDns, sanUri/,
    ],
    [
      'a client without a method',
      auth({ methods: ['none'], clients: [{ id: 'a' }] }),
      'tokenEndpoint.clientAuthentication.clients[0]',
      /at least one of/,
    ],
    [
      'a duplicate client id',
      auth(
        {
          methods: ['tls_client_auth'],
          clients: [
            { id: 'a', tlsClientAuth: { sanDns: 'a' } },
            { id: 'a', tlsClientAuth: { sanDns: 'b' } },
          ],
        },
        mtlsListener,
      ),
      'tokenEndpoint.clientAuthentication.clients[1].id',
      /duplicate client id/,
    ],
    [
      'two clients with one certificate identity',
      auth(
        {
          methods: ['tls_client_auth'],
          clients: [
            { id: 'a', tlsClientAuth: { sanDns: 'a' } },
            { id: 'b', tlsClientAuth: { sanDns: 'a' } },
          ],
        },
        mtlsListener,
      ),
      'tokenEndpoint.clientAuthentication.clients[1].tlsClientAuth',
      /same certificate identity as client "a"/,
    ],
    [
      'a client id with spaces',
      auth({ methods: ['tls_client_auth'], clients: [{ id: 'a b', tlsClientAuth: { sanDns: 'a' } }] }, mtlsListener),
      'tokenEndpoint.clientAuthentication.clients[0].id',
      /must be 1-128 characters/,
    ],
    [
      'a SPIFFE ID that is not one',
      auth({ methods: ['tls_client_auth'], clients: [{ id: 'a', tlsClientAuth: { spiffeId: 'https://x/y' } }] }, mtlsListener),
      'tokenEndpoint.clientAuthentication.clients[0].tlsClientAuth.spiffeId',
      /must be a SPIFFE ID/,
    ],
    [
      'jwks and jwksFile together',
      auth({
        methods: ['private_key_jwt'],
        clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS, jwksFile: '/k' } }],
        replayCache: { store: 'memory' },
      }),
      'tokenEndpoint.clientAuthentication.clients[0].privateKeyJwt',
      /exactly one of jwks, jwksFile/,
    ],
    [
      'private_key_jwt without a replay store',
      auth({ methods: ['private_key_jwt'], clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS } }] }),
      'tokenEndpoint.clientAuthentication.replayCache.store',
      /required with private_key_jwt clients: redis .* or memory/,
    ],
    [
      'store redis without redis',
      auth({ methods: ['private_key_jwt'], clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS } }], replayCache: { store: 'redis' } }),
      'tokenEndpoint.clientAuthentication.replayCache.redis',
      /required with store: redis/,
    ],
    [
      'a password in the redis URL',
      auth({
        methods: ['private_key_jwt'],
        clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS } }],
        replayCache: { store: 'redis', redis: { url: 'redis://:hunter2@redis:6379' } },
      }),
      'tokenEndpoint.clientAuthentication.replayCache.redis.url',
      /must not contain a password/,
    ],
    [
      'a redis URL of another scheme',
      auth({
        methods: ['private_key_jwt'],
        clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS } }],
        replayCache: { store: 'redis', redis: { url: 'http://redis:6379' } },
      }),
      'tokenEndpoint.clientAuthentication.replayCache.redis.url',
      /redis:\/\/ or rediss:\/\//,
    ],
    [
      'a federated client of an unknown trust source',
      auth({ methods: ['federated_jwt'], clients: [{ id: 'a', federated: { trustSource: 'nope', subject: 's' } }] }),
      'tokenEndpoint.clientAuthentication.clients[0].federated.trustSource',
      /is not an id of trustSources/,
    ],
    [
      'a provider trust source of an unknown provider',
      auth({ methods: ['none'], trustSources: [{ id: 't', kind: 'provider', provider: 'gitlab' }] }),
      'tokenEndpoint.clientAuthentication.trustSources[0].provider',
      /not a configured provider id/,
    ],
    [
      'a provider trust source of a user-API provider',
      auth({ methods: ['none'], trustSources: [{ id: 't', kind: 'provider', provider: 'github' }] }),
      'tokenEndpoint.clientAuthentication.trustSources[0].provider',
      /has no issuer: it cannot verify JWT assertions/,
    ],
    [
      'two trust sources routing one issuer',
      auth({
        methods: ['none'],
        trustSources: [
          { id: 't', kind: 'provider', provider: 'kc' },
          { id: 'u', kind: 'oidc', issuer: 'https://sso.example/realms/main' },
        ],
      }),
      'tokenEndpoint.clientAuthentication.trustSources[1]',
      /routes the same issuer or trust domain as "t"/,
    ],
    [
      'a trust source lifetime over 24 h',
      auth({ methods: ['none'], trustSources: [{ id: 't', kind: 'oidc', issuer: 'https://ci.example', maxLifetime: '25h' }] }),
      'tokenEndpoint.clientAuthentication.trustSources[0].maxLifetime',
      /at most/,
    ],
    [
      'an http OIDC trust source on a non-loopback host',
      auth({ methods: ['none'], trustSources: [{ id: 't', kind: 'oidc', issuer: 'http://ci.example' }] }),
      'tokenEndpoint.clientAuthentication.trustSources[0].issuer',
      /must be https/,
    ],
    [
      'delegation by the caller without client authentication',
      base({ clientAuthentication: { methods: ['none'] }, delegation: { actor: 'caller' } }),
      'tokenEndpoint.delegation.actor',
      /caller needs client authentication/,
    ],
  ];
  for (const [name, raw, path, message] of refused) {
    it(`refuses ${name} (${path})`, () => {
      assert.match(issueAt(raw, path), message);
    });
  }

  it('warns loudly about a per-replica replay cache and plaintext redis to another host', () => {
    const warnings = buildConfig(
      auth({ methods: ['private_key_jwt'], clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS } }], replayCache: { store: 'memory' } }),
    ).warnings;
    assert.ok(
      warnings.some((w) => /store is memory: .* replayed once to every other replica/.test(w)),
      warnings.join('\n'),
    );
    const plain = buildConfig(
      auth({
        methods: ['private_key_jwt'],
        clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS } }],
        replayCache: { store: 'redis', redis: { url: 'redis://redis.auth.svc:6379' } },
      }),
    ).warnings;
    assert.ok(
      plain.some((w) => /redis:\/\/ \(plaintext\) on a non-loopback host/.test(w)),
      plain.join('\n'),
    );
  });

  it('the redis password comes from a file or a variable, is never printed, and a missing one is an error', () => {
    const raw = (redis: Record<string, unknown>) =>
      auth({
        methods: ['private_key_jwt'],
        clients: [{ id: 'a', privateKeyJwt: { jwks: KEYS } }],
        replayCache: { store: 'redis', redis: { url: 'rediss://redis:6380', ...redis } },
      });
    const c = buildConfig(raw({ passwordFile: '/secrets/redis' }), { readFile: () => 'hunter2\n' });
    assert.equal(c.clientAuthSecrets.redisPassword?.reveal(), 'hunter2');
    assert.ok(!JSON.stringify(c).includes('hunter2'));
    assert.equal(
      buildConfig(raw({ passwordEnv: 'REDIS_PASSWORD' }), { env: { REDIS_PASSWORD: 'x' } }).clientAuthSecrets.redisPassword?.reveal(),
      'x',
    );
    assert.match(
      issueAt(raw({ passwordEnv: 'REDIS_PASSWORD' }), 'tokenEndpoint.clientAuthentication.replayCache.redis.passwordEnv', { env: {} }),
      /not set or empty/,
    );
    assert.match(
      issueAt(raw({ passwordFile: '/x', passwordEnv: 'Y' }), 'tokenEndpoint.clientAuthentication.replayCache.redis.passwordFile'),
      /only one/,
    );
  });

  it('internalHttp.tls.clientCaFile is accepted (the trust bundle of client certificates)', () => {
    const c = buildConfig(base({}, mtlsListener));
    assert.equal(c.internalHttp.tls?.clientCaFile, '/trust/ca.crt');
  });

  it('caller and actor are CEL variables in provider policies (a bare path no more)', () => {
    const c = buildConfig({
      ...base({ clientAuthentication: { methods: ['none'] } }),
      providers: [
        {
          id: 'kc',
          issuer: 'https://sso.example/realms/main',
          audiences: ['frontend'],
          allow: "caller.kind != 'none'",
          claims: { requester: 'caller.id', acting: 'actor.sub' },
        },
      ],
    });
    assert.deepEqual(c.providers[0]!.policy?.claims, { requester: 'caller.id', acting: 'actor.sub' });
    assert.deepEqual(c.providers[0]!.claims, {
      email: 'email',
      email_verified: 'email_verified',
      name: 'name',
      preferred_username: 'preferred_username',
      groups: 'groups',
    });
  });
});
