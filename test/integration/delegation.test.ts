/**
 * RFC 8693 delegation end to end (issue 21), on every door of a real authjwt: GetJWT and Envoy
 * ext_authz over gRPC, forward-auth and the token endpoint over HTTP. Subject and actor tokens are JWTs
 * of a FAKE OIDC issuer (scripted claims: `may_act`, `act`) verified with its published JWKS; authjwt is
 * also configured as a provider of itself, so that its own delegated tokens are exchanged again and the
 * `act` chain is seen to survive every exchange. Nothing is minted for a `may_act` token without an
 * actor (keycloak#52691); `act` is never dropped (keycloak#53029); logs name actors by id, never a token.
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createServer } from 'node:http';
import type { AuthAPIClient } from '../../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto, loadExtAuthzPackage } from '../../src/grpc/proto.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { startAuthJwtProcess } from '../helpers/authjwt-process.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { freePort, listenOnLoopback } from '../helpers/net.ts';
import { waitFor } from '../helpers/wait-for.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('delegation on every door', () => {
  let fake: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  let issuer: string;
  let clientKey: CryptoKey;
  let ext: { check(token: string): Promise<{ code: number; status?: string }>; close(): void };

  before(async () => {
    fake = await startFakeOidcIssuer();
    const httpPort = await freePort();
    issuer = `http://127.0.0.1:${httpPort}`;
    const pair = await generateKeyPair('ES256', { extractable: true });
    clientKey = pair.privateKey;
    const provider = { type: 'oidc', strategy: 'jwt', audiences: ['frontend', 'orders-app', 'billing-app'] };
    svc = await startAuthJwt({
      issuer,
      http: { listen: `127.0.0.1:${httpPort}` },
      edge: { forwardAuth: { enabled: true }, extAuthz: { enabled: true } },
      mintedTokens: { maxEntries: 0 },
      tokenEndpoint: {
        enabled: true,
        clientAuthentication: {
          methods: ['none', 'private_key_jwt'],
          clients: [
            { id: 'orders', privateKeyJwt: { jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'o1', alg: 'ES256' }] } } },
          ],
          replayCache: { store: 'memory' },
        },
      },
      providers: [
        { id: 'kc', issuer: fake.issuer, ...provider },
        // authjwt's own tokens, exchanged again (a service passing a delegated token on): its `act` must survive.
        { id: 'self', issuer, ...provider, audiences: ['frontend', 'orders-app'], claims: { acting: 'actor.sub' } },
      ],
    });
    const pkg = loadPackageDefinition(loadExtAuthzPackage({ defaults: true })) as any;
    const client = new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${svc.app.grpcPort}`, credentials.createInsecure());
    ext = {
      check: (token) =>
        new Promise((resolve) =>
          client.Check(
            {
              attributes: {
                request: { http: { method: 'GET', host: 'app.test', path: '/', headers: { authorization: `Bearer ${token}` } } },
              },
            },
            new Metadata(),
            { deadline: Date.now() + 10_000 },
            (err: ServiceError | null, res: { status: { code: number }; deniedResponse?: { status: { code: number | string } } }) =>
              resolve(err ? { code: err.code } : { code: res.status.code, status: String(res.deniedResponse?.status.code ?? 'OK') }),
          ),
        ),
      close: () => client.close(),
    };
  });
  after(async () => {
    ext?.close();
    await svc?.stop();
    await fake?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const user = (claims: Record<string, unknown> = {}) =>
    fake.sign({ iss: fake.issuer, sub: 'alice', azp: 'frontend', iat: now(), exp: now() + 300, ...claims });
  const service = (name: string) => fake.sign({ iss: fake.issuer, sub: `svc-${name}`, azp: `${name}-app`, iat: now(), exp: now() + 300 });
  const tokenEndpoint = async (form: Record<string, string>) => {
    const res = await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: GRANT, subject_token_type: ACCESS, ...form }),
    });
    const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
    return { status: res.status, token: body.access_token, reason: /\((ERR_AUTHJWT_\w+)\)$/.exec(body.error_description ?? '')?.[1] };
  };
  const forwardAuth = async (token: string) =>
    (await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/forward-auth`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('regression keycloak#52691: a subject token with may_act and no actor is refused on every door — GetJWT, ext_authz, forward-auth, token endpoint', async () => {
    const token = await user({ may_act: { sub: 'svc-orders' } });
    const logsFrom = svc.logs.length;
    const getJwt = await svc.getJwt({ provider: 'kc', type: 'oidc', providerAccountId: 'alice', accessToken: token });
    assert.equal(getJwt.code, status.PERMISSION_DENIED);
    assert.match(getJwt.details!, /\(ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED\)$/);
    assert.deepEqual(await ext.check(token), { code: status.PERMISSION_DENIED, status: 'Forbidden' });
    assert.equal(await forwardAuth(token), 403);
    assert.deepEqual(await tokenEndpoint({ subject_token: token }), {
      status: 400,
      token: undefined,
      reason: 'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED',
    });
    const denials = svc.logs.slice(logsFrom).filter((l) => l.includes('ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED'));
    assert.deepEqual(denials.map((l) => (JSON.parse(l) as { door: string }).door).sort(), [
      'ext_authz',
      'forward_auth',
      'getjwt',
      'token_endpoint',
    ]);
  });

  it('may_act admits the actor it names (token endpoint, actor_token), and only that one', async () => {
    const subject = await user({ may_act: { sub: 'svc-orders' } });
    const ok = await tokenEndpoint({ subject_token: subject, actor_token: await service('orders'), actor_token_type: JWT });
    assert.equal(ok.status, 200);
    const { payload } = await svc.verify(ok.token!);
    assert.equal(payload.sub, 'kc:alice');
    assert.deepEqual(payload.act, { sub: 'kc:svc-orders', client_id: 'orders-app' });
    const other = await tokenEndpoint({ subject_token: subject, actor_token: await service('billing'), actor_token_type: ACCESS });
    assert.deepEqual(other, { status: 400, token: undefined, reason: 'ERR_AUTHJWT_DELEGATION_ACTOR_NOT_ALLOWED' });
  });

  it('regression keycloak#53029: act survives every later exchange — on GetJWT, and when authjwt’s own delegated token is exchanged again (with and without a new actor)', async () => {
    const withAct = await user({ act: { sub: 'svc-gateway' } });
    const got = await svc.getJwt({ provider: 'kc', type: 'oidc', providerAccountId: 'alice', accessToken: withAct });
    assert.equal(got.code, status.OK, got.details);
    assert.deepEqual(decodeJwt(got.token!).act, { sub: 'svc-gateway', iss: fake.issuer });

    // Hop 1: orders acts for alice. Hop 2: billing exchanges that token (authjwt as its own provider) and acts in turn.
    const hop1 = await tokenEndpoint({ subject_token: await user(), actor_token: await service('orders'), actor_token_type: ACCESS });
    assert.equal(hop1.status, 200);
    const hop2 = await tokenEndpoint({
      subject_token: hop1.token!,
      subject_issuer: 'self',
      actor_token: await service('billing'),
      actor_token_type: ACCESS,
    });
    assert.equal(hop2.status, 200, hop2.reason);
    const chained = decodeJwt(hop2.token!);
    assert.equal(chained.sub, 'self:kc:alice');
    assert.deepEqual(chained.act, {
      sub: 'kc:svc-billing',
      client_id: 'billing-app',
      act: { sub: 'kc:svc-orders', client_id: 'orders-app' },
    });
    assert.equal(chained.acting, 'kc:svc-billing', 'policy saw the actor');
    // Without a new actor (impersonation of the delegated token), the chain is kept as it was.
    const hop3 = await tokenEndpoint({ subject_token: hop1.token!, subject_issuer: 'self' });
    assert.deepEqual(decodeJwt(hop3.token!).act, { sub: 'kc:svc-orders', client_id: 'orders-app' });
    // Logged by id only: the actor's subject, never a token.
    const lines = svc.logs.filter((l) => l.includes('"door":"token_endpoint"') && l.includes('"outcome":"ok"'));
    assert.ok(
      lines.some((l) => l.includes('"actor":"kc:svc-billing"')),
      lines.slice(-3).join('\n'),
    );
    for (const t of [hop1.token!, hop2.token!, withAct]) assert.ok(!svc.logs.join('').includes(t.split('.')[2]!), 'no token in the logs');
  });

  it('discovery lists the accepted methods and the private_key_jwt algorithms (RFC 8414)', async () => {
    const d = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.deepEqual(d.token_endpoint_auth_methods_supported, ['none', 'private_key_jwt']);
    assert.deepEqual(d.token_endpoint_auth_signing_alg_values_supported, [
      'RS256',
      'RS384',
      'RS512',
      'PS256',
      'PS384',
      'PS512',
      'ES256',
      'ES384',
      'ES512',
      'EdDSA',
      'Ed25519',
    ]);
  });

  it('delegation.actor token (default): the authenticated client is the caller, not an actor; its id reaches the log', async () => {
    const assertion = await new SignJWT({ iss: 'orders', sub: 'orders', aud: issuer, jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'o1' })
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(clientKey);
    const res = await tokenEndpoint({ subject_token: await user(), client_assertion_type: JWT_BEARER, client_assertion: assertion });
    assert.equal(res.status, 200, res.reason);
    assert.equal(decodeJwt(res.token!).act, undefined);
    assert.ok(svc.logs.some((l) => l.includes('"caller":"orders","clientAuth":"private_key_jwt"')));
  });
});

describe('delegation.actor: caller (the authenticated client acts)', () => {
  it('the caller is nested as act (its client id); an actor_token is refused; may_act naming the client admits it', async () => {
    const fake = await startFakeOidcIssuer();
    const pair = await generateKeyPair('ES256', { extractable: true });
    const httpPort = await freePort();
    const issuer = `http://127.0.0.1:${httpPort}`;
    const svc = await startAuthJwt({
      issuer,
      http: { listen: `127.0.0.1:${httpPort}` },
      tokenEndpoint: {
        enabled: true,
        delegation: { actor: 'caller' },
        clientAuthentication: {
          methods: ['private_key_jwt'],
          clients: [
            { id: 'orders', privateKeyJwt: { jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'o1', alg: 'ES256' }] } } },
          ],
          replayCache: { store: 'memory' },
        },
      },
      providers: [{ id: 'kc', type: 'oidc', issuer: fake.issuer, strategy: 'jwt', audiences: ['frontend'] }],
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      const exchange = async (subjectClaims: Record<string, unknown>, extra: Record<string, string> = {}) => {
        const assertion = await new SignJWT({ iss: 'orders', sub: 'orders', aud: issuer, jti: crypto.randomUUID() })
          .setProtectedHeader({ alg: 'ES256', kid: 'o1' })
          .setIssuedAt()
          .setExpirationTime('1m')
          .sign(pair.privateKey);
        const subject = await fake.sign({ iss: fake.issuer, sub: 'alice', azp: 'frontend', iat: now, exp: now + 300, ...subjectClaims });
        const res = await fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: GRANT,
            subject_token: subject,
            subject_token_type: ACCESS,
            client_assertion_type: JWT_BEARER,
            client_assertion: assertion,
            ...extra,
          }),
        });
        return { status: res.status, body: (await res.json()) as { access_token?: string; error_description?: string } };
      };
      const ok = await exchange({});
      assert.equal(ok.status, 200);
      assert.deepEqual(decodeJwt(ok.body.access_token!).act, { sub: 'orders', client_id: 'orders' });
      assert.match(
        (await exchange({}, { actor_token: 'x', actor_token_type: ACCESS })).body.error_description!,
        /TOKEN_REQUEST_ACTOR_NOT_ACCEPTED/,
      );
      assert.equal((await exchange({ may_act: { client_id: 'orders', iss: issuer } })).status, 200);
      assert.match(
        (await exchange({ may_act: { client_id: 'billing', iss: issuer } })).body.error_description!,
        /DELEGATION_ACTOR_NOT_ALLOWED/,
      );
    } finally {
      await svc.stop();
      await fake.close();
    }
  });
});

describe('act in traces', () => {
  it('regression keycloak#53029: the actor appears in the trace by id only (GetJWT server span authjwt.actor), never a token', async () => {
    const spans: { traceId: string; name: string; kind: number; attributes?: { key: string; value: Record<string, unknown> }[] }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          const data = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: typeof spans }[] }[] };
          for (const rs of data.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    const otlp = await listenOnLoopback(receiver);
    const fake = await startFakeOidcIssuer();
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const proc = startAuthJwtProcess(
      `issuer: http://127.0.0.1:${httpPort}
audience: [internal-services]
grpc: { listen: "127.0.0.1:${grpcPort}" }
http: { listen: "127.0.0.1:${httpPort}" }
keys: { ephemeral: true }
logging: { level: debug }
providers:
  - { id: kc, type: oidc, issuer: "${fake.issuer}", strategy: jwt, audiences: [frontend] }
`,
      {
        env: {
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlp.url}/v1/traces`,
          OTEL_BSP_SCHEDULE_DELAY: '100',
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
        },
      },
    );
    const client = new (loadAuthProto().auth.v1alpha1.AuthAPI)(`127.0.0.1:${grpcPort}`, credentials.createInsecure()) as AuthAPIClient;
    try {
      await proc.waitFor(/authjwt started/);
      const now = Math.floor(Date.now() / 1000);
      const token = await fake.sign({
        iss: fake.issuer,
        sub: 'alice',
        azp: 'frontend',
        iat: now,
        exp: now + 300,
        act: { sub: 'svc-gateway' },
      });
      const minted = await new Promise<string>((resolve, reject) =>
        client.GetJWT(
          { account: { provider: 'kc', type: 'oidc', providerAccountId: 'alice', accessToken: token } },
          (e: ServiceError | null, r) => (e ? reject(e) : resolve(r!.token!)),
        ),
      );
      assert.deepEqual(decodeJwt(minted).act, { sub: 'svc-gateway', iss: fake.issuer });
      const server = await waitFor(() => spans.find((s) => s.kind === 2 && s.name === 'auth.v1alpha1.AuthAPI/GetJWT'), {
        what: 'the GetJWT server span',
        timeout: 10_000,
        interval: 100,
      });
      const attr = (key: string) => Object.values(server.attributes?.find((a) => a.key === key)?.value ?? {})[0];
      assert.equal(attr('authjwt.actor'), 'svc-gateway');
      const everything = JSON.stringify(spans);
      assert.ok(!everything.includes(token.split('.')[2]!) && !everything.includes(minted.split('.')[2]!), 'no token in spans');
      assert.match(proc.stdout(), /"actor":"svc-gateway"/);
    } finally {
      client.close();
      await proc.stop();
      await otlp.close();
      await fake.close();
    }
  });
});
