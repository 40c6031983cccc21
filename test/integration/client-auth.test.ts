/**
 * Client authentication at the token endpoint end to end (issue 21): a real authjwt whose internal
 * listener serves HTTPS and asks for client certificates (trust bundle made here with openssl, re-read
 * while running), a real OIDC provider (oidc-provider) for subject tokens, a SPIFFE bundle file and a
 * FAKE OIDC issuer for federated assertions shaped like Kubernetes projected service-account tokens.
 * The caller reaches the policy (CEL `caller`), the minted claims, the log line and a metric by its
 * configured id — and never from the request body. Forward-auth shares the listener without a certificate.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { makeCa, makeCert, type Pem } from '../helpers/certs.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import { type FormAnswer as Answer, postFormOverTls } from '../helpers/tls-form.ts';
import { waitFor } from '../helpers/wait-for.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ORDERS = 'spiffe://cluster.local/ns/orders/sa/orders';
const K8S_SUBJECT = 'system:serviceaccount:payments:payments-api';
const TOKEN_URL = 'https://authjwt.auth.svc:8081/token';

const post = (port: number, ca: string, form: Record<string, string>, client?: Pem, path = '/token') =>
  postFormOverTls(port, ca, form, client, path);

describe('token endpoint client authentication over real TLS', () => {
  let dir: string;
  let op: OidcTestProvider;
  let fake: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  let port: number;
  let server: Pem;
  let orders: Pem;
  let ordersExpired: Pem;
  let otherCa: Pem;
  let foreign: Pem;
  let svidKey: CryptoKey;
  let aliceToken: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'authjwt-client-auth-'));
    makeCa(dir, 'server-ca');
    server = makeCert(dir, 'server-ca', 'server', { san: 'DNS:localhost,IP:127.0.0.1', usage: 'serverAuth' });
    makeCa(dir, 'clients-ca');
    orders = makeCert(dir, 'clients-ca', 'orders', { san: `URI:${ORDERS}`, usage: 'clientAuth', subject: '/O=acme/CN=orders' });
    ordersExpired = makeCert(dir, 'clients-ca', 'orders-expired', {
      san: `URI:${ORDERS}`,
      usage: 'clientAuth',
      validity: { start: '20200101000000Z', end: '20200102000000Z' },
    });
    otherCa = makeCa(dir, 'other-ca');
    foreign = makeCert(dir, 'other-ca', 'foreign', { san: `URI:${ORDERS}`, usage: 'clientAuth' });
    copyFileSync(join(dir, 'clients-ca.crt'), join(dir, 'trust.pem'));

    const svid = await generateKeyPair('ES256', { extractable: true });
    svidKey = svid.privateKey;
    writeFileSync(
      join(dir, 'bundle.jwks'),
      JSON.stringify({ keys: [{ ...(await exportJWK(svid.publicKey)), use: 'jwt-svid', kid: 's1' }] }),
    );

    op = await startOidcProvider();
    fake = await startFakeOidcIssuer();
    aliceToken = await op.jwtToken(USERS.alice!);
    svc = await startAuthJwt({
      internalHttp: {
        tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: join(dir, 'trust.pem'), reloadInterval: '100ms' },
      },
      edge: { forwardAuth: { enabled: true } },
      tokenEndpoint: {
        enabled: true,
        url: TOKEN_URL,
        clientAuthentication: {
          methods: ['tls_client_auth', 'federated_jwt'],
          clients: [
            { id: 'orders', tlsClientAuth: { spiffeId: ORDERS } },
            { id: 'orders-svid', federated: { trustSource: 'mesh', subject: ORDERS } },
            { id: 'payments', federated: { trustSource: 'cluster', subject: K8S_SUBJECT } },
          ],
          trustSources: [
            { id: 'mesh', kind: 'spiffe', trustDomain: 'cluster.local', bundleFile: join(dir, 'bundle.jwks'), maxLifetime: '10m' },
            // A Kubernetes service-account issuer reached as an OIDC issuer (anonymous discovery): here the FAKE issuer.
            { id: 'cluster', kind: 'oidc', issuer: fake.issuer, maxLifetime: '1h', jwksCooldown: 0 },
          ],
        },
      },
      providers: [
        {
          id: 'kc',
          type: 'oidc',
          issuer: op.issuer,
          audiences: ['frontend'],
          strategy: 'jwt',
          allow: [{ name: 'workloads-only', expression: "caller.kind != 'none' && caller.namespace in ['orders', 'payments']" }],
          claims: { requester: 'caller.id', requester_ns: 'caller.namespace', requester_spiffe: 'caller.spiffeId' },
        },
      ],
    });
    port = svc.app.internalHttpPort!;
  });
  after(async () => {
    await svc?.stop();
    await op?.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const exchange = (extra: Record<string, string> = {}) => ({
    grant_type: GRANT,
    subject_token: aliceToken,
    subject_token_type: ACCESS,
    ...extra,
  });
  const ca = () => readFileSync(join(dir, 'server-ca.crt'), 'utf8');
  const errorOf = (a: Answer) => [a.status, a.body.error, /\((ERR_AUTHJWT_\w+)\)$/.exec(String(a.body.error_description))?.[1]];

  it('mTLS with a SPIFFE ID: the caller is visible in policy and in the minted claims (caller.id, namespace, SPIFFE ID)', async () => {
    const res = await post(port, ca(), exchange(), orders);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { payload } = await svc.verify(String(res.body.access_token));
    assert.deepEqual([payload.requester, payload.requester_ns, payload.requester_spiffe], ['orders', 'orders', ORDERS]);
    assert.equal(payload.sub, `kc:${USERS.alice!.sub}`, 'the subject is still the user');
    assert.equal(payload.act, undefined, 'tokenEndpoint.delegation.actor defaults to token: the caller is not an actor');
  });

  const refused: [string, () => Pem | undefined, string][] = [
    ['a certificate of another CA', () => foreign, 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_CERTIFICATE'],
    ['an expired certificate', () => ordersExpired, 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_CERTIFICATE'],
    ['no certificate where authentication is required', () => undefined, 'ERR_AUTHJWT_CLIENT_AUTH_REQUIRED'],
  ];
  for (const [name, client, reason] of refused) {
    it(`${name} → 401 invalid_client (${reason}) with a challenge; nothing minted`, async () => {
      const res = await post(port, ca(), exchange(), client());
      assert.deepEqual(errorOf(res), [401, 'invalid_client', reason]);
      assert.equal(res.headers['www-authenticate'], 'tls_client_auth realm="authjwt", federated_jwt realm="authjwt"');
    });
  }

  it('the caller never comes from the body: a forged client_id or caller field is refused or ignored', async () => {
    // Without a credential, naming a registered client is refused (it would have to prove itself).
    assert.deepEqual(errorOf(await post(port, ca(), exchange({ client_id: 'orders' }))), [
      401,
      'invalid_client',
      'ERR_AUTHJWT_CLIENT_AUTH_REQUIRED',
    ]);
    // With the orders certificate, a client_id naming another client is refused.
    assert.deepEqual(errorOf(await post(port, ca(), exchange({ client_id: 'payments' }), orders)), [
      401,
      'invalid_client',
      'ERR_AUTHJWT_CLIENT_AUTH_CLIENT_ID_MISMATCH',
    ]);
    // Fields that look like a caller change nothing: the minted claims name the certificate's client.
    const res = await post(port, ca(), exchange({ caller: 'admin', 'caller.id': 'admin', namespace: 'kube-system' }), orders);
    assert.equal(res.status, 200);
    assert.equal((await svc.verify(String(res.body.access_token))).payload.requester, 'orders');
  });

  it('a SPIFFE JWT-SVID as federated assertion: the caller in policy; wrong audience or a lifetime beyond the bound refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const svid = (claims: Record<string, unknown>) =>
      new SignJWT({ sub: ORDERS, aud: TOKEN_URL, iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 's1' })
        .sign(svidKey);
    const ok = await post(port, ca(), exchange({ client_assertion_type: JWT_BEARER, client_assertion: await svid({}) }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(
      [
        (await svc.verify(String(ok.body.access_token))).payload.requester,
        (await svc.verify(String(ok.body.access_token))).payload.requester_spiffe,
      ],
      ['orders-svid', ORDERS],
    );
    for (const claims of [{ aud: 'spiffe://cluster.local/ns/other/sa/other' }, { exp: now + 3_600 }]) {
      const res = await post(port, ca(), exchange({ client_assertion_type: JWT_BEARER, client_assertion: await svid(claims) }));
      assert.deepEqual(errorOf(res), [401, 'invalid_client', 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION'], JSON.stringify(claims));
    }
  });

  it('a projected service-account token (Kubernetes claims) from an OIDC trust source: namespace and service account reach policy; API-server audience and a 1-year token refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    // The fields Kubernetes 1.3x puts in a projected token (TokenRequest): iss, sub, aud, exp, iat, nbf, jti, kubernetes.io.
    const saToken = (claims: Record<string, unknown>) =>
      fake.sign({
        iss: fake.issuer,
        sub: K8S_SUBJECT,
        aud: [TOKEN_URL],
        iat: now,
        nbf: now,
        exp: now + 3_600,
        jti: crypto.randomUUID(),
        'kubernetes.io': {
          namespace: 'payments',
          node: { name: 'node-1', uid: 'n-1' },
          pod: { name: 'payments-api-7d9', uid: 'p-1' },
          serviceaccount: { name: 'payments-api', uid: 'sa-1' },
        },
        ...claims,
      });
    const token = await saToken({});
    const ok = await post(port, ca(), exchange({ client_assertion_type: JWT_BEARER, client_assertion: token }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const { payload } = await svc.verify(String(ok.body.access_token));
    assert.deepEqual([payload.requester, payload.requester_ns], ['payments', 'payments']);
    const again = await post(port, ca(), exchange({ client_assertion_type: JWT_BEARER, client_assertion: token }));
    assert.equal(again.status, 200, 'bearer-style workload tokens are reusable by design (their lifetime is bounded instead)');
    for (const claims of [{ aud: ['https://kubernetes.default.svc.cluster.local'] }, { exp: now + 365 * 86_400 }]) {
      const res = await post(port, ca(), exchange({ client_assertion_type: JWT_BEARER, client_assertion: await saToken(claims) }));
      assert.deepEqual(errorOf(res), [401, 'invalid_client', 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION'], JSON.stringify(claims));
    }
  });

  it('a certificate and an assertion together → 400 invalid_request (one method per request)', async () => {
    const res = await post(port, ca(), exchange({ client_assertion_type: JWT_BEARER, client_assertion: 'a.b.c' }), orders);
    assert.deepEqual(errorOf(res), [400, 'invalid_request', 'ERR_AUTHJWT_CLIENT_AUTH_MULTIPLE_METHODS']);
  });

  it('forward-auth on the same listener works without a client certificate (the listener asks, the door decides)', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/forward-auth',
          method: 'GET',
          ca: ca(),
          servername: 'localhost',
          agent: false,
          headers: { authorization: `Bearer ${aliceToken}` },
        },
        (r) => {
          r.resume();
          resolve(r.statusCode!);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(res, 403, 'reached the exchange: the policy needs a workload caller, which the edge never has');
  });

  it('discovery tells the truth: tls_client_auth only (federated_jwt is no registered method; no signing algorithms without private_key_jwt)', async () => {
    const d = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.deepEqual(d.token_endpoint_auth_methods_supported, ['tls_client_auth']);
    assert.equal(d.token_endpoint_auth_signing_alg_values_supported, undefined);
    assert.equal(d.tls_client_certificate_bound_access_tokens, undefined, 'no certificate-bound tokens (RFC 8705 §3) are minted');
  });

  it('the caller is logged and counted by its configured id; no credential in the logs', async () => {
    const metrics = await (await fetch(`${svc.httpUrl}/metrics`)).text();
    assert.match(metrics, /authjwt_token_endpoint_callers_total\{caller="orders",method="tls_client_auth",outcome="ok"\} [1-9]/);
    assert.match(metrics, /authjwt_token_endpoint_callers_total\{caller="_unauthenticated",method="",outcome="unauthenticated"\} [1-9]/);
    assert.match(metrics, /authjwt_token_endpoint_callers_total\{caller="payments",method="federated_jwt",outcome="ok"\} [1-9]/);
    const callers = new Set([...metrics.matchAll(/authjwt_token_endpoint_callers_total\{caller="([^"]+)"/g)].map((m) => m[1]));
    assert.deepEqual(
      [...callers].filter((c) => !['orders', 'orders-svid', 'payments', '_anonymous', '_unauthenticated'].includes(c!)),
      [],
    );
    const lines = svc.logs.filter((l) => l.includes('"door":"token_endpoint"'));
    assert.ok(
      lines.some((l) => /"caller":"orders","clientAuth":"tls_client_auth"/.test(l)),
      lines.slice(-3).join('\n'),
    );
    assert.ok(!svc.logs.join('').includes(aliceToken.split('.')[2]!), 'no subject token');
    assert.ok(!svc.logs.join('').includes('BEGIN'), 'no certificate or key material');
  });

  it('the trust bundle is re-read while running: another CA replaces it → the old clients are refused, the new ones accepted', async () => {
    const newCa = join(dir, 'other-ca.crt');
    copyFileSync(newCa, join(dir, 'trust.pem'));
    try {
      await waitFor(async () => (await post(port, ca(), exchange(), foreign)).status !== 401, { what: 'the new bundle', timeout: 10_000 });
      // The foreign certificate (other CA) now chains; its SPIFFE ID is the registered one.
      assert.equal((await post(port, ca(), exchange(), foreign)).status, 200);
      assert.deepEqual(errorOf(await post(port, ca(), exchange(), orders)), [
        401,
        'invalid_client',
        'ERR_AUTHJWT_CLIENT_AUTH_INVALID_CERTIFICATE',
      ]);
    } finally {
      copyFileSync(join(dir, 'clients-ca.crt'), join(dir, 'trust.pem'));
      assert.ok(otherCa);
    }
  });
});
