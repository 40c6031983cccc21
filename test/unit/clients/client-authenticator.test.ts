/**
 * Client authentication of the token endpoint (src/clients/client-authenticator.ts), on real keys and
 * certificates generated here (openssl, jose): RFC 8705 tls_client_auth by SPIFFE ID, SAN and subject;
 * RFC 7523 private_key_jwt with its checks and single use; federated assertions from a SPIFFE bundle and
 * from an OIDC issuer (a FAKE issuer serving discovery and JWKS); `none`; and the rules that hold across
 * methods: one method per request, the caller never taken from `client_id`, a failed credential never
 * downgraded to `none`. TLS-level verification (wrong CA, expired) runs over real TLS in
 * test/integration/client-auth.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { createClientAuthenticator, JWT_BEARER_ASSERTION } from '../../../src/clients/client-authenticator.ts';
import { inlineJwkSet } from '../../../src/clients/jwk-set.ts';
import type { ClientAuthenticator, ClientCredentials, PresentedCertificate } from '../../../src/clients/ports.ts';
import { MemoryReplayCache } from '../../../src/clients/replay-cache.ts';
import { createTrustSource } from '../../../src/clients/trust-sources.ts';
import type { AuthJwtError } from '../../../src/errors.ts';
import type { Caller } from '../../../src/exchange/ports.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../../helpers/fake-oidc-issuer.ts';

const ISSUER = 'https://authjwt.example';
const TOKEN_URL = 'http://authjwt.auth.svc:8081/token';
const SPIFFE_ORDERS = 'spiffe://cluster.local/ns/orders/sa/orders';
const HOUR = 3_600_000;

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A P-256 certificate signed by `ca.crt` in `dir` (the CA is made on first use), with SANs and a subject. */
function issueCertificate(dir: string, name: string, subject: string, san: string): PresentedCertificate {
  try {
    readFileSync(join(dir, 'ca.crt'));
  } catch {
    openssl(
      dir,
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-subj',
      '/CN=test-ca',
      '-days',
      '1',
    );
  }
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=clientAuth\n`);
  openssl(
    dir,
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  );
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  );
  return { authorized: true, error: undefined, raw: new X509Certificate(readFileSync(join(dir, `${name}.crt`))).raw };
}

const code = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (e) {
    return (e as AuthJwtError).code;
  }
  return 'ok';
};

describe('client authentication', () => {
  let dir: string;
  let fake: FakeOidcIssuer;
  let now = Date.now();
  let orders: PresentedCertificate;
  let billing: PresentedCertificate;
  let stranger: PresentedCertificate;
  let twoUris: PresentedCertificate;
  let clientKey: CryptoKey;
  let clientJwk: JWK;
  let otherKey: CryptoKey;
  let svidKey: CryptoKey;
  let auth: ClientAuthenticator;
  let noneToo: ClientAuthenticator;
  let replay: MemoryReplayCache;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'authjwt-clients-'));
    orders = issueCertificate(dir, 'orders', '/O=acme/CN=orders', `URI:${SPIFFE_ORDERS}`);
    billing = issueCertificate(dir, 'billing', '/O=acme/OU=pay, ments/CN=billing', 'DNS:Billing.internal,DNS:other.internal');
    stranger = issueCertificate(dir, 'stranger', '/CN=stranger', 'URI:spiffe://cluster.local/ns/x/sa/y');
    twoUris = issueCertificate(dir, 'two', '/CN=two', `URI:${SPIFFE_ORDERS},URI:https://orders.internal`);

    const client = await generateKeyPair('ES256', { extractable: true });
    clientKey = client.privateKey;
    clientJwk = { ...(await exportJWK(client.publicKey)), kid: 'k1', alg: 'ES256' };
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const svid = await generateKeyPair('ES256', { extractable: true });
    svidKey = svid.privateKey;
    writeFileSync(
      join(dir, 'bundle.jwks'),
      JSON.stringify({
        keys: [
          { use: 'x509-svid', kty: 'EC', crv: 'P-256', x: 'ignored', y: 'ignored', x5c: ['ignored'] },
          { ...(await exportJWK(svid.publicKey)), use: 'jwt-svid', kid: 'svid-1' },
        ],
        spiffe_sequence: 1,
      }),
    );
    fake = await startFakeOidcIssuer();

    replay = new MemoryReplayCache({ maxEntries: 1000, clock: () => now });
    const audiences = [ISSUER, TOKEN_URL];
    const sources = [
      createTrustSource(
        {
          id: 'mesh',
          kind: 'spiffe',
          trustDomain: 'cluster.local',
          bundleFile: join(dir, 'bundle.jwks'),
          reloadInterval: 60_000,
          maxLifetime: HOUR,
        },
        { defaultAudiences: audiences, clockTolerance: 5_000, clock: () => now },
        new Map(),
      ),
      createTrustSource(
        { id: 'ci', kind: 'oidc', issuer: fake.issuer, timeout: 2_000, jwksCooldown: 0, maxLifetime: 10 * 60_000 },
        { defaultAudiences: audiences, clockTolerance: 5_000, clock: () => now },
        new Map(),
      ),
    ];
    const options = {
      clients: [
        { id: 'orders', tlsClientAuth: { spiffeId: SPIFFE_ORDERS } },
        { id: 'billing', tlsClientAuth: { subjectDn: 'CN=billing,OU=pay\\, ments,O=acme' } },
        { id: 'billing-dns', tlsClientAuth: { sanDns: 'billing.INTERNAL' } },
        { id: 'reports', privateKeyJwt: inlineJwkSet({ keys: [clientJwk] }, 'client') },
        { id: 'mesh-orders', federated: { trustSource: 'mesh', subject: SPIFFE_ORDERS } },
        { id: 'deployer', federated: { trustSource: 'ci', subject: 'repo:acme/deploy:ref:refs/heads/main' } },
      ],
      trustSources: sources,
      privateKeyJwt: { audiences, algorithms: ['ES256', 'RS256'], maxLifetime: 300_000, replay },
      clockTolerance: 5_000,
      clock: () => now,
    };
    auth = createClientAuthenticator({ ...options, methods: ['tls_client_auth', 'private_key_jwt', 'federated_jwt'] });
    noneToo = createClientAuthenticator({ ...options, methods: ['none', 'private_key_jwt'] });
  });
  after(async () => {
    await auth?.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const assertion = (claims: JWTPayload = {}, header: Record<string, unknown> = {}, key: CryptoKey = clientKey) =>
    new SignJWT({
      iss: 'reports',
      sub: 'reports',
      aud: ISSUER,
      jti: crypto.randomUUID(),
      iat: Math.floor(now / 1000),
      exp: Math.floor(now / 1000) + 60,
      ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'client-authentication+jwt', ...header })
      .sign(key);
  const withAssertion = (jwt: string, extra: Partial<ClientCredentials> = {}): ClientCredentials => ({
    assertionType: JWT_BEARER_ASSERTION,
    assertion: jwt,
    ...extra,
  });
  const svid = (claims: JWTPayload = {}, header: Record<string, unknown> = {}) =>
    new SignJWT({ sub: SPIFFE_ORDERS, aud: TOKEN_URL, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 300, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'svid-1', typ: 'JWT', ...header })
      .sign(svidKey);

  describe('tls_client_auth (RFC 8705)', () => {
    it('a certificate with the registered SPIFFE ID: the caller, its namespace and service account from the ID', async () => {
      const caller = await auth.authenticate({ certificate: orders });
      assert.deepEqual(caller, {
        kind: 'tls_client_auth',
        id: 'orders',
        subject: SPIFFE_ORDERS,
        issuer: '',
        spiffeId: SPIFFE_ORDERS,
        namespace: 'orders',
        serviceAccount: 'orders',
      } satisfies Caller);
    });

    it('by subject DN (RFC 4514 order, escaped comma) — and a DNS SAN registered for another client makes it ambiguous', async () => {
      assert.equal(await code(auth.authenticate({ certificate: billing })), 'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT');
      const dnOnly = createClientAuthenticator({
        methods: ['tls_client_auth'],
        clients: [{ id: 'billing', tlsClientAuth: { subjectDn: 'CN=billing,OU=pay\\, ments,O=acme' } }],
        trustSources: [],
        privateKeyJwt: { audiences: [], algorithms: [], maxLifetime: 1, replay: undefined },
        clockTolerance: 0,
      });
      assert.equal((await dnOnly.authenticate({ certificate: billing })).subject, 'CN=billing,OU=pay, ments,O=acme');
      const dnsOnly = createClientAuthenticator({
        methods: ['tls_client_auth'],
        clients: [{ id: 'billing-dns', tlsClientAuth: { sanDns: 'billing.INTERNAL' } }],
        trustSources: [],
        privateKeyJwt: { audiences: [], algorithms: [], maxLifetime: 1, replay: undefined },
        clockTolerance: 0,
      });
      assert.equal((await dnsOnly.authenticate({ certificate: billing })).id, 'billing-dns', 'DNS names compare case-insensitively');
    });

    const refused: [string, () => PresentedCertificate, string][] = [
      [
        'a certificate the TLS layer did not verify (wrong CA)',
        () => ({ ...orders, authorized: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_CERTIFICATE',
      ],
      ['a certificate of an unregistered SPIFFE ID', () => stranger, 'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT'],
      ['two URI SANs (not an X509-SVID)', () => twoUris, 'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT'],
    ];
    for (const [name, certificate, expected] of refused) {
      it(`${name} → ${expected}`, async () => {
        assert.equal(await code(auth.authenticate({ certificate: certificate() })), expected);
      });
    }

    it('a certificate that expired while its connection was kept open → INVALID_CERTIFICATE', async () => {
      const saved = now;
      now = new X509Certificate(orders.raw).validToDate.getTime() + 60_000;
      try {
        assert.equal(await code(auth.authenticate({ certificate: orders })), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_CERTIFICATE');
      } finally {
        now = saved;
      }
    });
  });

  describe('private_key_jwt (RFC 7523)', () => {
    it('a valid assertion authenticates its client once; the replay is refused', async () => {
      const jwt = await assertion();
      assert.deepEqual(await auth.authenticate(withAssertion(jwt)), {
        kind: 'private_key_jwt',
        id: 'reports',
        subject: 'reports',
        issuer: '',
        spiffeId: '',
        namespace: '',
        serviceAccount: '',
      } satisfies Caller);
      assert.equal(await code(auth.authenticate(withAssertion(jwt))), 'ERR_AUTHJWT_CLIENT_AUTH_ASSERTION_REPLAYED');
    });

    it('aud may be the issuer or the token endpoint URL; typ may be absent or JWT', async () => {
      assert.equal((await auth.authenticate(withAssertion(await assertion({ aud: TOKEN_URL }, { typ: 'JWT' })))).id, 'reports');
      assert.equal((await auth.authenticate(withAssertion(await assertion({ aud: [ISSUER, 'x'] }, { typ: undefined })))).id, 'reports');
    });

    const invalid: [string, (jti: string) => Promise<string>][] = [
      ['signed with another key', (jti) => assertion({ jti }, {}, otherKey)],
      ['an unknown kid', (jti) => assertion({ jti }, { kid: 'k2' })],
      ['aud of another server', (jti) => assertion({ jti, aud: 'https://other.example/token' })],
      ['no jti', () => assertion({ jti: undefined })],
      ['a jti over 256 characters', () => assertion({ jti: 'j'.repeat(257) })],
      ['typ of an access token', (jti) => assertion({ jti }, { typ: 'at+jwt' })],
      ['expired', (jti) => assertion({ jti, exp: Math.floor(now / 1000) - 60 })],
      ['lifetime (exp − iat) over the 5 min bound', (jti) => assertion({ jti, exp: Math.floor(now / 1000) + 600 })],
      ['no iat and exp more than 5 min away', (jti) => assertion({ jti, iat: undefined, exp: Math.floor(now / 1000) + 400 })],
      ['nbf in the future', (jti) => assertion({ jti, nbf: Math.floor(now / 1000) + 120 })],
    ];
    for (const [name, make] of invalid) {
      it(`${name} → CLIENT_AUTH_INVALID_ASSERTION, and its jti is not burnt`, async () => {
        const jti = crypto.randomUUID();
        assert.equal(await code(auth.authenticate(withAssertion(await make(jti)))), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION');
        // The jti is recorded only after every check passed: a valid assertion with it still works.
        assert.equal((await auth.authenticate(withAssertion(await assertion({ jti })))).id, 'reports');
      });
    }

    it('alg none and HS256 (keyed with the public key) are refused', async () => {
      const p = (await assertion()).split('.')[1];
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1' })).toString('base64url')}.${p}.`;
      assert.equal(await code(auth.authenticate(withAssertion(none))), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION');
      const hs = await new SignJWT({ iss: 'reports', sub: 'reports', aud: ISSUER, jti: 'h', exp: Math.floor(now / 1000) + 60 })
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
        .sign(new TextEncoder().encode(JSON.stringify(clientJwk)));
      assert.equal(await code(auth.authenticate(withAssertion(hs))), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION');
    });

    it('an assertion of an unregistered client, or whose iss is not its sub (then it is no private_key_jwt assertion), a non-JWT, another assertion type', async () => {
      assert.equal(
        await code(auth.authenticate(withAssertion(await assertion({ iss: 'orders' })))),
        'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT',
      );
      assert.equal(
        await code(auth.authenticate(withAssertion(await assertion({ iss: 'ghost', sub: 'ghost' })))),
        'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT',
      );
      assert.equal(await code(auth.authenticate(withAssertion('not-a-jwt'))), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION');
      assert.equal(
        await code(auth.authenticate({ assertionType: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', assertion: 'x' })),
        'ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED',
      );
    });
  });

  describe('federated_jwt: SPIFFE JWT-SVID and an OIDC issuer’s JWT', () => {
    it('a JWT-SVID of the registered SPIFFE ID: the caller with its SPIFFE ID (bearer-style: reusable within its lifetime)', async () => {
      const jwt = await svid();
      const caller = await auth.authenticate(withAssertion(jwt));
      assert.deepEqual(caller, {
        kind: 'federated_jwt',
        id: 'mesh-orders',
        subject: SPIFFE_ORDERS,
        issuer: '',
        spiffeId: SPIFFE_ORDERS,
        namespace: 'orders',
        serviceAccount: 'orders',
      } satisfies Caller);
      assert.equal((await auth.authenticate(withAssertion(jwt))).id, 'mesh-orders', 'no single use: reusable by design');
    });

    const svids: [string, () => Promise<string>, string][] = [
      ['wrong audience', () => svid({ aud: 'spiffe://cluster.local/ns/other/sa/other' }), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION'],
      ['lifetime over the 1 h bound', () => svid({ exp: Math.floor(now / 1000) + 7_200 }), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION'],
      [
        'no iat and exp over 1 h away',
        () => svid({ iat: undefined, exp: Math.floor(now / 1000) + 3_700 }),
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION',
      ],
      [
        'a header JWT-SVID forbids (jku)',
        () => svid({}, { jku: 'https://evil.example/jwks' }),
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION',
      ],
      ['typ at+jwt', () => svid({}, { typ: 'at+jwt' }), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION'],
      ['expired', () => svid({ exp: Math.floor(now / 1000) - 60 }), 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION'],
      [
        'an unregistered SPIFFE ID of the trust domain',
        () => svid({ sub: 'spiffe://cluster.local/ns/x/sa/y' }),
        'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT',
      ],
      [
        'another trust domain (no trust source routes it)',
        () => svid({ sub: 'spiffe://evil.example/ns/orders/sa/orders' }),
        'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT',
      ],
    ];
    for (const [name, make, expected] of svids) {
      it(`JWT-SVID: ${name} → ${expected}`, async () => {
        assert.equal(await code(auth.authenticate(withAssertion(await make()))), expected);
      });
    }

    it('an OIDC issuer’s JWT (discovery + JWKS) whose sub is registered; wrong aud, too long a lifetime, another sub refused', async () => {
      const ci = (claims: Record<string, unknown>) =>
        fake.sign({
          iss: fake.issuer,
          sub: 'repo:acme/deploy:ref:refs/heads/main',
          aud: ISSUER,
          iat: Math.floor(now / 1000),
          exp: Math.floor(now / 1000) + 300,
          ...claims,
        });
      const caller = await auth.authenticate(withAssertion(await ci({})));
      assert.deepEqual(
        [caller.kind, caller.id, caller.issuer, caller.subject],
        ['federated_jwt', 'deployer', fake.issuer, 'repo:acme/deploy:ref:refs/heads/main'],
      );
      assert.equal(
        await code(auth.authenticate(withAssertion(await ci({ aud: 'sts.amazonaws.com' })))),
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION',
      );
      assert.equal(
        await code(auth.authenticate(withAssertion(await ci({ exp: Math.floor(now / 1000) + 1_200 })))),
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION',
      );
      assert.equal(
        await code(auth.authenticate(withAssertion(await ci({ sub: 'repo:acme/other' })))),
        'ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT',
      );
    });

    it('the issuer unreachable → temporarily unavailable (PROVIDER_*), never invalid_client or accepted', async () => {
      const sources = [
        createTrustSource(
          { id: 'down', kind: 'oidc', issuer: 'http://127.0.0.1:9/', timeout: 500, jwksCooldown: 0, maxLifetime: HOUR },
          { defaultAudiences: [ISSUER], clockTolerance: 0 },
          new Map(),
        ),
      ];
      const a = createClientAuthenticator({
        methods: ['federated_jwt'],
        clients: [{ id: 'x', federated: { trustSource: 'down', subject: 's' } }],
        trustSources: sources,
        privateKeyJwt: { audiences: [], algorithms: [], maxLifetime: 1, replay: undefined },
        clockTolerance: 0,
      });
      const jwt = await new SignJWT({ iss: 'http://127.0.0.1:9/', sub: 's', aud: ISSUER })
        .setProtectedHeader({ alg: 'ES256' })
        .setExpirationTime('5m')
        .sign(otherKey);
      const got = await code(a.authenticate(withAssertion(jwt)));
      assert.match(got, /^ERR_AUTHJWT_PROVIDER_/);
    });
  });

  describe('across methods', () => {
    it('no credential: CLIENT_AUTH_REQUIRED unless none is accepted; then anonymous — unless client_id names a registered client', async () => {
      assert.equal(await code(auth.authenticate({})), 'ERR_AUTHJWT_CLIENT_AUTH_REQUIRED');
      assert.equal((await noneToo.authenticate({})).kind, 'none');
      assert.equal((await noneToo.authenticate({ clientId: 'some-public-client' })).id, '', 'an unregistered client_id names nobody');
      assert.equal(
        await code(noneToo.authenticate({ clientId: 'reports' })),
        'ERR_AUTHJWT_CLIENT_AUTH_REQUIRED',
        'a registered client must prove itself',
      );
    });

    it('the caller never comes from client_id: a forged one is refused, an agreeing one accepted', async () => {
      assert.equal(
        await code(auth.authenticate({ certificate: orders, clientId: 'reports' })),
        'ERR_AUTHJWT_CLIENT_AUTH_CLIENT_ID_MISMATCH',
      );
      assert.equal((await auth.authenticate({ certificate: orders, clientId: 'orders' })).id, 'orders');
      assert.equal(
        await code(auth.authenticate(withAssertion(await assertion(), { clientId: 'orders' }))),
        'ERR_AUTHJWT_CLIENT_AUTH_CLIENT_ID_MISMATCH',
      );
    });

    it('a failed credential is never downgraded to none (even where none is accepted)', async () => {
      assert.equal(
        await code(noneToo.authenticate(withAssertion(await assertion({}, {}, otherKey)))),
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION',
      );
    });

    it('a certificate and an assertion together → CLIENT_AUTH_MULTIPLE_METHODS (RFC 6749 §2.3)', async () => {
      assert.equal(
        await code(auth.authenticate(withAssertion(await assertion(), { certificate: orders }))),
        'ERR_AUTHJWT_CLIENT_AUTH_MULTIPLE_METHODS',
      );
    });

    it('a certificate where tls_client_auth is not accepted is not a credential', async () => {
      assert.equal((await noneToo.authenticate({ certificate: orders })).kind, 'none');
    });

    it('assertions where no assertion method is accepted → TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED', async () => {
      const tlsOnly = createClientAuthenticator({
        methods: ['tls_client_auth'],
        clients: [{ id: 'orders', tlsClientAuth: { spiffeId: SPIFFE_ORDERS } }],
        trustSources: [],
        privateKeyJwt: { audiences: [], algorithms: [], maxLifetime: 1, replay: undefined },
        clockTolerance: 0,
      });
      assert.equal(await code(tlsOnly.authenticate(withAssertion(await assertion()))), 'ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED');
      assert.deepEqual([tlsOnly.methods, tlsOnly.assertionAlgorithms, tlsOnly.usesCertificates], [['tls_client_auth'], [], true]);
    });
  });
});
