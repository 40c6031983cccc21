/**
 * Issue 21 acceptance, `kubernetes` provider kind, through every door of a running authjwt (GetJWT,
 * the RFC 8693 token endpoint, HTTP forward-auth, Envoy ext_authz) against the FAKE Kubernetes API
 * server of test/helpers/fake-kubernetes.ts: HTTPS with its own CA, discovery and JWKS only with
 * authjwt's Bearer token, TokenReview, and projected service-account tokens with exactly the fields
 * Kubernetes 1.30+ puts in them — kubernetes/kubernetes pkg/serviceaccount/claims.go (`Claims()`:
 * aud, exp, iat, nbf, sub, jti, kubernetes.io {namespace, serviceaccount, pod, node, warnafter}) and
 * pkg/serviceaccount/jwt.go (iss, RS256, kid from the key's DER); see the helper's header.
 *
 * Negative first: the API server's own audience, the `default` service account, an expired token, a
 * token whose pod was deleted (TokenReview), a namespace the policy does not admit, the API server
 * down (UNAVAILABLE — never UNAUTHENTICATED) — each with its exact status at each door; then the
 * right audience → a minted token whose claims come from `claims['kubernetes.io']`. When issue 20's
 * real cluster runs in CI, the same cases run against its API server.
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { loadExtAuthzPackage } from '../../src/grpc/proto.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { startFakeKubernetes, type FakeKubernetes, type ServiceAccount } from '../helpers/fake-kubernetes.ts';

const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

const payments: ServiceAccount = { namespace: 'team-payments', name: 'api', uid: '1a2b3c4d-0000-4000-8000-000000000001' };
const outsider: ServiceAccount = { namespace: 'sandbox', name: 'api', uid: '2b3c4d5e-0000-4000-8000-000000000002' };
const usernameOf = (sa: ServiceAccount) => `system:serviceaccount:${sa.namespace}:${sa.name}`;

type Check = {
  status: { code: number };
  okResponse?: { headers: { header: { key: string; value: string } }[] };
  deniedResponse?: { status: { code: string } };
};
function extAuthzClient(port: number) {
  const pkg = loadPackageDefinition(loadExtAuthzPackage({ defaults: true })) as any;
  const client = new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, credentials.createInsecure());
  const check = (token: string): Promise<{ err?: ServiceError; res?: Check }> =>
    new Promise((resolve) => {
      const req = {
        attributes: {
          request: { http: { method: 'GET', host: 'app.test', path: '/orders', headers: { authorization: `Bearer ${token}` } } },
        },
      };
      client.Check(req, new Metadata(), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: Check) =>
        resolve(err ? { err } : { res }),
      );
    });
  return { check, close: () => client.close() };
}

/** The four doors, each answering with its own status vocabulary for one token. */
function doors(svc: RunningAuthJwt, ext: ReturnType<typeof extAuthzClient>, provider: string) {
  const internal = `http://127.0.0.1:${svc.app.internalHttpPort}`;
  return {
    getJwt: (token: string, sa: ServiceAccount, type = 'oidc') =>
      svc.getJwt({ provider, type, providerAccountId: usernameOf(sa), accessToken: token }),
    tokenEndpoint: async (token: string, tokenType = JWT_TYPE) => {
      const res = await fetch(`${internal}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: EXCHANGE, subject_token: token, subject_token_type: tokenType, subject_issuer: provider }),
      });
      return { status: res.status, body: (await res.json()) as { access_token?: string; error?: string; error_description?: string } };
    },
    forwardAuth: async (token: string) => {
      const res = await fetch(`${internal}/forward-auth`, {
        headers: { authorization: `Bearer ${token}`, 'x-authjwt-provider': provider },
      });
      return { status: res.status, minted: res.headers.get('authorization')?.slice('Bearer '.length), reason: await res.text() };
    },
    extAuthz: (token: string) => ext.check(token),
  };
}

describe('kubernetes provider: projected service-account tokens at every door (fake API server)', () => {
  let k8s: FakeKubernetes;
  let svc: RunningAuthJwt;
  let ext: ReturnType<typeof extAuthzClient>;
  let d: ReturnType<typeof doors>;
  let review: ReturnType<typeof doors>;

  before(async () => {
    k8s = await startFakeKubernetes({ issuer: API_AUDIENCE });
    const kubernetes = { issuer: k8s.issuer, apiServer: k8s.apiServer, tokenFile: k8s.tokenFile, caFile: k8s.caFile };
    svc = await startAuthJwt({
      tokenEndpoint: { enabled: true },
      edge: { forwardAuth: { enabled: true }, extAuthz: { enabled: true } },
      providers: [
        // Recipe (docs/policy.md): Kubernetes namespace and service-account patterns.
        {
          id: 'cluster',
          audiences: ['authjwt'],
          kubernetes,
          retries: 0,
          allow: [{ name: 'team-namespaces', expression: "claims['kubernetes.io'].namespace.matches('^team-[a-z0-9-]+$')" }],
          claims: {
            namespace: "claims['kubernetes.io'].namespace",
            service_account: "claims['kubernetes.io'].serviceaccount.name",
            pod: "claims['kubernetes.io'].pod.name",
          },
        },
        // The same cluster with TokenReview: a token bound to a deleted pod is refused before its exp.
        { id: 'cluster-review', audiences: ['authjwt'], kubernetes: { ...kubernetes, tokenReview: true }, retries: 0 },
      ],
    });
    ext = extAuthzClient(svc.app.grpcPort);
    d = doors(svc, ext, 'cluster');
    review = doors(svc, ext, 'cluster-review');
  });
  after(async () => {
    ext?.close();
    await svc?.stop();
    await k8s?.close();
  });

  describe('refused, with the exact status at each door', () => {
    const cases: [string, () => Promise<string>, ServiceAccount, { grpc: status; http: number; oauth: string; reason: string }][] = [
      [
        'a token for the API server (its audience)',
        async () => (await k8s.issue(payments, { audiences: [API_AUDIENCE] })).token,
        payments,
        { grpc: status.UNAUTHENTICATED, http: 401, oauth: 'invalid_request', reason: 'ERR_AUTHJWT_UPSTREAM_WRONG_AUDIENCE' },
      ],
      [
        'the default service account',
        async () => (await k8s.issue({ ...payments, name: 'default' })).token,
        { ...payments, name: 'default' },
        { grpc: status.PERMISSION_DENIED, http: 403, oauth: 'invalid_request', reason: 'ERR_AUTHJWT_POLICY_DEFAULT_SERVICE_ACCOUNT' },
      ],
      [
        'an expired token',
        async () => (await k8s.issue(payments, { shift: -7200 })).token,
        payments,
        { grpc: status.UNAUTHENTICATED, http: 401, oauth: 'invalid_request', reason: 'ERR_AUTHJWT_UPSTREAM_EXPIRED' },
      ],
      [
        'a namespace outside the policy (matches() on RE2)',
        async () => (await k8s.issue(outsider)).token,
        outsider,
        { grpc: status.PERMISSION_DENIED, http: 403, oauth: 'invalid_request', reason: 'ERR_AUTHJWT_POLICY_DENIED' },
      ],
    ];
    for (const [name, make, sa, want] of cases) {
      it(`refused at every door with its status: ${name}`, async () => {
        const token = await make();
        const g = await d.getJwt(token, sa);
        assert.equal(g.code, want.grpc, g.details);
        assert.match(g.details ?? '', new RegExp(want.reason));
        const t = await d.tokenEndpoint(token);
        assert.equal(t.status, 400);
        assert.equal(t.body.error, want.oauth);
        assert.match(t.body.error_description ?? '', new RegExp(want.reason));
        const f = await d.forwardAuth(token);
        assert.equal(f.status, want.http);
        const e = await d.extAuthz(token);
        assert.equal(e.res?.deniedResponse?.status.code, want.http === 401 ? 'Unauthorized' : 'Forbidden');
        for (const text of [g.details, t.body.error_description, f.reason]) assert.ok(!text?.includes(token), 'the token is never echoed');
      });
    }

    it('a token bound to a deleted pod (TokenReview says unauthenticated): UNAUTHENTICATED at GetJWT and the token endpoint', async () => {
      const issued = await k8s.issue(payments);
      assert.equal((await review.getJwt(issued.token, payments)).code, status.OK, 'valid while the pod exists');
      k8s.deleteBoundObject(issued.pod!.uid);
      const g = await review.getJwt(issued.token, payments);
      assert.equal(g.code, status.UNAUTHENTICATED);
      assert.match(g.details ?? '', /ERR_AUTHJWT_UPSTREAM_TOKEN_REVIEW_REJECTED/);
      const t = await review.tokenEndpoint(issued.token);
      assert.equal(t.status, 400);
      assert.match(t.body.error_description ?? '', /ERR_AUTHJWT_UPSTREAM_TOKEN_REVIEW_REJECTED/);
      // (At the edge the token's `iss` chooses the provider: the first one of that cluster, `cluster` here.)
      // The provider without TokenReview still accepts it until its exp (the documented trade-off).
      assert.equal((await d.getJwt(issued.token, payments)).code, status.OK);
    });

    it('GetJWT: provider_account_id must be the service account the token proves; account.type oauth is not accepted', async () => {
      const { token } = await k8s.issue(payments);
      const other = await d.getJwt(token, { ...payments, name: 'worker' });
      assert.equal(other.code, status.UNAUTHENTICATED);
      assert.match(other.details ?? '', /ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH/);
      const oauth = await d.getJwt(token, payments, 'oauth');
      assert.equal(oauth.code, status.INVALID_ARGUMENT);
      assert.match(oauth.details ?? '', /ERR_AUTHJWT_REQUEST_TYPE_MISMATCH/);
    });
  });

  it("neither authjwt's own service-account token nor a workload's token ever reaches the logs", async () => {
    const { token } = await k8s.issue(payments);
    await d.getJwt(token, payments);
    await d.forwardAuth((await k8s.issue(payments, { audiences: [API_AUDIENCE] })).token);
    const own = readFileSync(k8s.tokenFile, 'utf8').trim();
    const logs = svc.logs.join('');
    assert.ok(
      k8s.requests.some((r) => r.bearer === own),
      'authjwt did present its token to the API server',
    );
    assert.ok(!logs.includes(own), "authjwt's own token in the log");
    assert.ok(!logs.includes(token.split('.')[2]!), "a workload's token in the log");
  });

  describe('accepted: the right audience', () => {
    it('every door mints a token for cluster:system:serviceaccount:<ns>:<name> with the kubernetes.io fields policy computed', async () => {
      const issued = await k8s.issue(payments);
      const expected = {
        sub: `cluster:${usernameOf(payments)}`,
        provider: 'cluster',
        namespace: 'team-payments',
        service_account: 'api',
        pod: issued.pod!.name,
      };
      const g = await d.getJwt(issued.token, payments);
      assert.equal(g.code, status.OK, g.details);
      const { payload } = await svc.verify(g.token!);
      assert.deepEqual(
        {
          sub: payload.sub,
          provider: payload.provider,
          namespace: payload.namespace,
          service_account: payload.service_account,
          pod: payload.pod,
        },
        expected,
      );

      for (const tokenType of [JWT_TYPE, ACCESS_TYPE]) {
        const t = await d.tokenEndpoint(issued.token, tokenType);
        assert.equal(t.status, 200, JSON.stringify(t.body));
        assert.equal(decodeJwt(t.body.access_token!).sub, expected.sub);
      }
      // Chosen by the token's `iss` (the cluster issuer), without any provider hint.
      const byIssuer = await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/forward-auth`, {
        headers: { authorization: `Bearer ${issued.token}` },
      });
      assert.equal(byIssuer.status, 200);
      assert.equal(decodeJwt(byIssuer.headers.get('authorization')!.slice(7)).namespace, 'team-payments');
      const e = await d.extAuthz(issued.token);
      assert.equal(e.res?.status.code, 0);
      const minted = e.res!.okResponse!.headers.find((h) => h.header.key === 'authorization')!.header.value.slice(7);
      assert.equal(decodeJwt(minted).service_account, 'api');
    });

    it('with TokenReview: OK while the pod exists', async () => {
      const issued = await k8s.issue(payments);
      const before = k8s.requests.filter((r) => r.path.endsWith('/tokenreviews')).length;
      assert.equal((await review.getJwt(issued.token, payments)).code, status.OK);
      assert.equal(k8s.requests.filter((r) => r.path.endsWith('/tokenreviews')).length, before + 1, 'one TokenReview per verification');
    });
  });
});

describe("kubernetes provider as the token endpoint's trust source: service-account tokens as client assertions (federated_jwt)", () => {
  let k8s: FakeKubernetes;
  let svc: RunningAuthJwt;
  let subjectToken: string;
  const CLIENT_SA: ServiceAccount = { namespace: 'team-payments', name: 'payments-api', uid: '3c4d5e6f-0000-4000-8000-000000000003' };

  before(async () => {
    k8s = await startFakeKubernetes({ issuer: API_AUDIENCE });
    svc = await startAuthJwt({
      tokenEndpoint: {
        enabled: true,
        clientAuthentication: {
          methods: ['federated_jwt'],
          clients: [{ id: 'payments', federated: { trustSource: 'cluster', subject: usernameOf(CLIENT_SA) } }],
          trustSources: [{ id: 'cluster', kind: 'provider', provider: 'cluster', maxLifetime: '1h' }],
        },
      },
      providers: [
        {
          id: 'cluster',
          audiences: ['authjwt'],
          retries: 0,
          kubernetes: { issuer: k8s.issuer, apiServer: k8s.apiServer, tokenFile: k8s.tokenFile, caFile: k8s.caFile },
          allow: [{ name: 'payments-caller', expression: "caller.id == 'payments' && caller.namespace == 'team-payments'" }],
          claims: { requester: 'caller.id', requester_sa: 'caller.serviceAccount' },
        },
      ],
    });
    subjectToken = (await k8s.issue(payments)).token;
  });
  after(async () => {
    await svc?.stop();
    await k8s?.close();
  });

  const exchangeWith = async (assertion: string) => {
    const res = await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: EXCHANGE,
        subject_token: subjectToken,
        subject_token_type: JWT_TYPE,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    return { status: res.status, body: (await res.json()) as { access_token?: string; error?: string; error_description?: string } };
  };

  const refused: [string, () => Promise<string>][] = [
    ['a token for the API server', async () => (await k8s.issue(CLIENT_SA, { audiences: [API_AUDIENCE] })).token],
    ["a token for the subject provider's audience, not the token endpoint's", async () => (await k8s.issue(CLIENT_SA)).token],
    [
      'the default service account',
      async () => (await k8s.issue({ ...CLIENT_SA, name: 'default' }, { audiences: [svc.config.issuer] })).token,
    ],
    [
      'a lifetime beyond the trust source bound (2h)',
      async () => (await k8s.issue(CLIENT_SA, { audiences: [svc.config.issuer], expirationSeconds: 7200 })).token,
    ],
    [
      'a service account registered for no client',
      async () => (await k8s.issue({ ...CLIENT_SA, name: 'other' }, { audiences: [svc.config.issuer] })).token,
    ],
  ];
  for (const [name, make] of refused) {
    it(`client assertion refused with invalid_client: ${name}`, async () => {
      const r = await exchangeWith(await make());
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid_client');
    });
  }

  it("a projected token with the token endpoint's audience authenticates the caller, whom policy sees", async () => {
    const r = await exchangeWith((await k8s.issue(CLIENT_SA, { audiences: [svc.config.issuer] })).token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const claims = decodeJwt(r.body.access_token!);
    assert.deepEqual([claims.sub, claims.requester, claims.requester_sa], [`cluster:${usernameOf(payments)}`, 'payments', 'payments-api']);
  });
});

describe('kubernetes provider: the API server down → UNAVAILABLE at every door, never UNAUTHENTICATED', () => {
  let k8s: FakeKubernetes;
  let svc: RunningAuthJwt;
  let ext: ReturnType<typeof extAuthzClient>;

  before(async () => {
    k8s = await startFakeKubernetes({ issuer: API_AUDIENCE });
    k8s.setDown(true);
    svc = await startAuthJwt({
      tokenEndpoint: { enabled: true },
      edge: { forwardAuth: { enabled: true }, extAuthz: { enabled: true } },
      providers: [
        {
          id: 'cluster',
          audiences: ['authjwt'],
          retries: 0,
          kubernetes: { issuer: k8s.issuer, apiServer: k8s.apiServer, tokenFile: k8s.tokenFile, caFile: k8s.caFile },
        },
      ],
    });
    ext = extAuthzClient(svc.app.grpcPort);
  });
  after(async () => {
    ext?.close();
    await svc?.stop();
    await k8s?.close();
  });

  it('GetJWT UNAVAILABLE, token endpoint 503 temporarily_unavailable, forward-auth 503, ext_authz UNAVAILABLE; then recovers', async () => {
    const { token } = await k8s.issue(payments);
    const d = doors(svc, ext, 'cluster');
    const g = await d.getJwt(token, payments);
    assert.equal(g.code, status.UNAVAILABLE, g.details);
    const t = await d.tokenEndpoint(token);
    assert.equal(t.status, 503);
    assert.equal(t.body.error, 'temporarily_unavailable');
    assert.equal((await d.forwardAuth(token)).status, 503);
    assert.equal((await d.extAuthz(token)).err?.code, status.UNAVAILABLE);
    k8s.setDown(false);
    // Discovery is retried (at most every 2 s after a failure).
    let code: status | undefined;
    for (let i = 0; i < 30 && code !== status.OK; i++) {
      code = (await d.getJwt(token, payments)).code;
      if (code !== status.OK) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(code, status.OK);
  });
});

describe('kubernetes provider: static JWKS file (clusters that publish none)', () => {
  let k8s: FakeKubernetes;
  let svc: RunningAuthJwt;
  let dir: string;

  before(async () => {
    k8s = await startFakeKubernetes({ issuer: 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE' });
    dir = mkdtempSync(join(tmpdir(), 'authjwt-k8s-jwks-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(k8s.jwks()));
    svc = await startAuthJwt({
      providers: [
        {
          id: 'eks',
          audiences: ['authjwt'],
          // No API server call at all: an address nothing listens on, and no token or CA file.
          kubernetes: {
            issuer: k8s.issuer,
            jwksFile: join(dir, 'jwks.json'),
            apiServer: 'https://127.0.0.1:1',
            tokenFile: join(dir, 'none'),
            caFile: join(dir, 'none'),
          },
        },
      ],
    });
  });
  after(async () => {
    await svc?.stop();
    await k8s?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('verifies against the file: OK for the right audience, UNAUTHENTICATED for the API server audience; no API server request', async () => {
    const before = k8s.requests.length;
    const ok = await svc.getJwt({
      provider: 'eks',
      type: 'oidc',
      providerAccountId: usernameOf(payments),
      accessToken: (await k8s.issue(payments)).token,
    });
    assert.equal(ok.code, status.OK, ok.details);
    const api = await svc.getJwt({
      provider: 'eks',
      type: 'oidc',
      providerAccountId: usernameOf(payments),
      accessToken: (await k8s.issue(payments, { audiences: [k8s.issuer] })).token,
    });
    assert.equal(api.code, status.UNAUTHENTICATED);
    assert.equal(k8s.requests.length, before);
  });
});
