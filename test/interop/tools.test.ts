/**
 * Smoke tests of the third-party tools and our interop clients installed by `.ci/tools.sh`: each runs
 * and reports its pinned version; nginx and Caddy run as test-owned processes on loopback ports doing
 * forward-auth; headless Chromium runs a page; and the clients work against a real authjwt (a token
 * minted through a FAKE GitHub, verified through discovery by PyJWT and go-oidc). The gRPC clients'
 * full behaviour (GetJWT, ErrorInfo, health) is tested once, in interop.test.ts. Missing tools skip
 * locally and FAIL when CI is set (test/helpers/interop-tools.ts).
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startCaddy, startNginx } from '../helpers/gateways.ts';
import {
  jsonLines,
  jsonResult,
  PROTO_DIR,
  REPO_ROOT,
  requireTool,
  runPython,
  runTool,
  startLineProcess,
} from '../helpers/interop-tools.ts';
import { freePort, listenOnLoopback, type LoopbackServer } from '../helpers/net.ts';
import { version } from '../helpers/versions.ts';

/** Tampers with the signature (last character of the third segment) of a compact JWS. */
const tamper = (jwt: string) => jwt.slice(0, -2) + (jwt.at(-2) === 'A' ? 'B' : 'A') + jwt.at(-1);

const listen = (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<LoopbackServer> =>
  listenOnLoopback(createServer(handler));

/**
 * A forward-auth pair for the gateway tests: the auth service answers 200 with `x-minted` for
 * `Authorization: Bearer good`, else 401; the upstream echoes the Authorization header it received.
 */
async function startForwardAuthPair() {
  const auth = await listen((req, res) => {
    if (req.headers.authorization === 'Bearer good') res.writeHead(200, { 'x-minted': 'Bearer minted-by-auth' }).end();
    else res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end('denied');
  });
  const upstream = await listen((req, res) =>
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream saw: ${req.headers.authorization ?? '-'}`),
  );
  return { auth, upstream, close: async () => void (await Promise.all([auth.close(), upstream.close()])) };
}

describe('interop tools: installed, pinned versions', () => {
  const cases: { tool: Parameters<typeof requireTool>[1]; args: string[]; expect: string }[] = [
    { tool: 'grpcurl', args: ['-version'], expect: `grpcurl ${version('GRPCURL_VERSION')}` },
    { tool: 'grpc-health-probe', args: ['-version'], expect: version('GRPC_HEALTH_PROBE_VERSION') },
    { tool: 'caddy', args: ['version'], expect: version('CADDY_VERSION') },
    { tool: 'oauth2-proxy', args: ['--version'], expect: `oauth2-proxy ${version('OAUTH2_PROXY_VERSION')}` },
    { tool: 'protoc-gen-go', args: ['--version'], expect: `protoc-gen-go ${version('PROTOC_GEN_GO_VERSION')}` },
    {
      tool: 'protoc-gen-go-grpc',
      args: ['--version'],
      expect: `protoc-gen-go-grpc ${version('PROTOC_GEN_GO_GRPC_VERSION').replace(/^v/, '')}`,
    },
    { tool: 'protoc', args: ['--version'], expect: 'libprotoc 3.' },
    { tool: 'envoy', args: ['--version'], expect: `/${version('ENVOY_VERSION')}/Clean/RELEASE/` },
    { tool: 'traefik', args: ['version'], expect: `Version:      ${version('TRAEFIK_VERSION')}` },
    { tool: 'shellcheck', args: ['--version'], expect: 'version: 0.' },
  ];
  for (const c of cases) {
    it(`${c.tool} ${c.args.join(' ')} reports ${c.expect}`, async (t) => {
      const bin = requireTool(t, c.tool);
      if (!bin) return;
      const res = await runTool(bin, c.args);
      assert.equal(res.code, 0, res.stderr);
      assert.ok(`${res.stdout}${res.stderr}`.includes(c.expect), `${res.stdout}${res.stderr}`);
    });
  }

  it('protoc finds the well-known types (google/protobuf/*.proto) and compiles auth.proto', async (t) => {
    const protoc = requireTool(t, 'protoc');
    if (!protoc) return;
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-protoc-'));
    try {
      writeFileSync(
        join(dir, 'wkt.proto'),
        'syntax = "proto3";\nimport "google/protobuf/timestamp.proto";\nmessage M { google.protobuf.Timestamp t = 1; }\n',
      );
      const res = await runTool(protoc, [
        `-I${dir}`,
        `-I${PROTO_DIR}`,
        `--descriptor_set_out=${join(dir, 'out.pb')}`,
        'wkt.proto',
        'auth/v1alpha1/auth.proto',
      ]);
      assert.equal(res.code, 0, res.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the interop CLIs print usage (extauthz-check, getjwt-go, oidc-verify)', async (t) => {
    for (const tool of ['extauthz-check', 'getjwt-go', 'oidc-verify'] as const) {
      const bin = requireTool(t, tool);
      if (!bin) return;
      const res = await runTool(bin, ['-h']);
      assert.equal(res.code, 0, `${tool}: ${res.stderr}`);
      assert.match(res.stderr, /-(addr|issuer)/, tool);
    }
  });

  it('the Python venv has the pinned client libraries', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const res = await runTool(python, [
      '-c',
      'import grpc, grpc_tools, grpc_status, grpc_health.v1, jwt, authlib, joserfc, requests; print(grpc.__version__, jwt.__version__, authlib.__version__)',
    ]);
    assert.equal(res.code, 0, res.stderr);
    const pins = readFileSync(join(REPO_ROOT, 'test/interop/python/requirements.txt'), 'utf8');
    const pin = (name: string) => new RegExp(`^${name}(?:\\[\\w+\\])?==(\\S+)`, 'mi').exec(pins)![1];
    assert.equal(res.stdout.trim(), `${pin('grpcio')} ${pin('PyJWT')} ${pin('Authlib')}`);
  });
});

describe('gateways as test-owned processes on loopback', () => {
  let pair: Awaited<ReturnType<typeof startForwardAuthPair>>;
  before(async () => {
    pair = await startForwardAuthPair();
  });
  after(async () => {
    await pair?.close();
  });

  it('nginx (Debian): own prefix and config, no daemon; auth_request admits with the minted header and passes the 401 on', async (t) => {
    const nginx = requireTool(t, 'nginx');
    if (!nginx) return;
    const version = await runTool(nginx, ['-V']);
    assert.match(version.stderr, /--with-http_auth_request_module/);
    const port = await freePort();
    // startNginx puts every path nginx writes under the test's prefix (the compiled-in ones are under /var/lib/nginx).
    const gateway = await startNginx(
      nginx,
      port,
      `  server {
    listen 127.0.0.1:${port};
    location = /_auth {
      internal;
      proxy_pass http://127.0.0.1:${pair.auth.port}/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
    }
    location / {
      auth_request /_auth;
      auth_request_set $minted $upstream_http_x_minted;
      proxy_set_header Authorization $minted;
      proxy_pass http://127.0.0.1:${pair.upstream.port};
    }
  }`,
    );
    try {
      const ok = await fetch(`${gateway.url}/api`, { headers: { authorization: 'Bearer good' } });
      assert.equal(ok.status, 200, gateway.logs());
      assert.equal(await ok.text(), 'upstream saw: Bearer minted-by-auth');
      const denied = await fetch(`${gateway.url}/api`, { headers: { authorization: 'Bearer bad' } });
      assert.equal(denied.status, 401);
    } finally {
      await gateway.stop();
    }
  });

  it('caddy (Go proxy build): forward_auth with copy_headers renaming x-minted to Authorization', async (t) => {
    const caddy = requireTool(t, 'caddy');
    if (!caddy) return;
    const port = await freePort();
    const gateway = await startCaddy(
      caddy,
      port,
      `http://127.0.0.1:${port} {
  forward_auth 127.0.0.1:${pair.auth.port} {
    uri /check
    copy_headers X-Minted>Authorization
  }
  reverse_proxy 127.0.0.1:${pair.upstream.port}
}`,
    );
    try {
      const ok = await fetch(`${gateway.url}/api`, { headers: { authorization: 'Bearer good' } });
      assert.equal(ok.status, 200, gateway.logs());
      assert.equal(await ok.text(), 'upstream saw: Bearer minted-by-auth');
      const denied = await fetch(`${gateway.url}/api`, { headers: { authorization: 'Bearer bad' } });
      assert.equal(denied.status, 401);
      assert.equal(denied.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    } finally {
      await gateway.stop();
    }
  });

  it('chromium (Debian) runs headless and executes a page script', async (t) => {
    const chromium = requireTool(t, 'chromium');
    if (!chromium) return;
    const page = await listen((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<p id="out"></p><script>document.getElementById("out").textContent = "sum=" + (40 + 2)</script>'),
    );
    const profile = mkdtempSync(join(tmpdir(), 'authjwt-chromium-'));
    try {
      const res = await runTool(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--no-first-run',
          `--user-data-dir=${profile}`,
          '--dump-dom',
          page.url,
        ],
        {
          timeoutMs: 120_000,
        },
      );
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /<p id="out">sum=42<\/p>/);
    } finally {
      await page.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

describe('clients against a running authjwt (token minted through a FAKE GitHub)', () => {
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let dir: string;
  let tokenFile: string;
  let grpcAddr: string;
  const octocat = { id: 583231, login: 'octocat', name: 'The Octocat', email: null };

  before(async () => {
    gh = await startFakeGitHub();
    gh.issue('gho_interop_octocat', octocat, 'Iv1.interop');
    svc = await startAuthJwt({
      providers: [fakeGitHubProvider(gh, { timeout: '2s' })],
    });
    grpcAddr = `127.0.0.1:${svc.app.grpcPort}`;
    dir = mkdtempSync(join(tmpdir(), 'authjwt-interop-'));
    tokenFile = join(dir, 'access-token');
    writeFileSync(tokenFile, 'gho_interop_octocat\n', { mode: 0o600 });
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const mint = async () => {
    const res = await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '583231', accessToken: 'gho_interop_octocat' });
    assert.equal(res.code, status.OK, res.details);
    return res.token!;
  };

  it('grpcurl calls GetJWT from the .proto file (no reflection needed)', async (t) => {
    const grpcurl = requireTool(t, 'grpcurl');
    if (!grpcurl) return;
    const body = JSON.stringify({
      account: { provider: 'github', type: 'oauth', providerAccountId: '583231', accessToken: 'gho_interop_octocat' },
    });
    const res = await runTool(
      grpcurl,
      ['-plaintext', '-import-path', PROTO_DIR, '-proto', 'auth/v1alpha1/auth.proto', '-d', '@', grpcAddr, 'auth.v1alpha1.AuthAPI/GetJWT'],
      { input: body },
    );
    assert.equal(res.code, 0, res.stderr);
    const { payload } = await svc.verify((JSON.parse(res.stdout) as { token: string }).token);
    assert.equal(payload.sub, 'github:583231');
  });

  it('verify_jwt.py (PyJWT, PyJWKClient through discovery) accepts a minted token and rejects a tampered one', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const token = await mint();
    const good = await runPython(python, 'verify_jwt.py', ['--issuer', svc.config.issuer, '--audience', 'internal-services'], {
      input: `${token}\n`,
    });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    const [ok] = jsonLines<{ ok: boolean; claims: { sub: string } }>(good.stdout);
    assert.equal(ok!.claims.sub, 'github:583231');
    const bad = await runPython(python, 'verify_jwt.py', ['--issuer', svc.config.issuer, '--audience', 'internal-services'], {
      input: `${tamper(token)}\n`,
    });
    assert.equal(bad.code, 1);
    assert.deepEqual(
      jsonLines<{ ok: boolean; error: string }>(bad.stdout).map((r) => [r.ok, r.error]),
      [[false, 'InvalidSignatureError']],
    );
    const wrongAud = await runPython(python, 'verify_jwt.py', ['--issuer', svc.config.issuer, '--audience', 'someone-else'], {
      input: `${token}\n`,
    });
    assert.equal(jsonLines<{ error: string }>(wrongAud.stdout)[0]!.error, 'InvalidAudienceError');
  });

  it('oidc-verify (go-oidc, discovery read once) keeps verifying token after token, rejecting a tampered one', async (t) => {
    const bin = requireTool(t, 'oidc-verify');
    if (!bin) return;
    const verifier = startLineProcess(bin, ['-issuer', svc.config.issuer, '-audience', 'internal-services']);
    try {
      const first = JSON.parse(await verifier.send(await mint())) as { ok: boolean; claims: { sub: string }; header: { alg: string } };
      assert.equal(first.ok, true, JSON.stringify(first));
      assert.equal(first.claims.sub, 'github:583231');
      const tampered = JSON.parse(await verifier.send(tamper(await mint()))) as { ok: boolean; error: string };
      assert.equal(tampered.ok, false);
      assert.match(tampered.error, /signature/i);
      const again = JSON.parse(await verifier.send(await mint())) as { ok: boolean };
      assert.equal(again.ok, true);
      assert.equal(await verifier.close(), 0);
      assert.match(verifier.stderr(), /"ready":true/);
    } finally {
      verifier.child.kill();
    }
  });

  it('extauthz-check (Envoy go-control-plane client) completes a Check RPC and reports the gRPC outcome as JSON', async (t) => {
    const bin = requireTool(t, 'extauthz-check');
    if (!bin) return;
    const res = await runTool(bin, [
      '-addr',
      grpcAddr,
      '-header',
      'authorization=Bearer gho_interop_octocat',
      '-path',
      '/api',
      '-timeout',
      '10s',
    ]);
    assert.equal(res.code, 0, res.stderr);
    const out = jsonResult<{ code: number; message: string; check?: unknown }>(res);
    // This authjwt runs without edge.extAuthz: the call reached the server, which names the method
    // (the Check answers themselves are tested in test/interop/gateways.test.ts).
    assert.equal(out.code, status.UNIMPLEMENTED, JSON.stringify(out));
    assert.match(out.message, /envoy\.service\.auth\.v3\.Authorization\/Check/);
    assert.equal(out.check, undefined);
    // No server: still one JSON object, with the transport's code.
    const closed = await runTool(bin, ['-addr', `127.0.0.1:${await freePort()}`, '-timeout', '2s']);
    assert.equal(closed.code, 0, closed.stderr);
    assert.ok([status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(jsonResult<{ code: number }>(closed).code));
  });
});

describe('verify_at_jwt.py (Authlib RFC 9068 validator) against a local issuer', () => {
  let issuer: LoopbackServer;
  const keys: Record<string, { privateKey: CryptoKey; jwk: JWK }> = {};

  before(async () => {
    for (const alg of ['ES256', 'ES384', 'RS256'] as const) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      keys[alg] = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg, use: 'sig' } };
    }
    issuer = await listen((req, res) => {
      const base = issuer.url;
      if (req.url === '/.well-known/openid-configuration') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks`, id_token_signing_alg_values_supported: Object.keys(keys) }));
      } else if (req.url === '/jwks') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: Object.values(keys).map((k) => k.jwk) }));
      } else res.writeHead(404).end();
    });
  });
  after(async () => {
    await issuer?.close();
  });

  const sign = (alg: string, header: Record<string, unknown>, claims: Record<string, unknown>) =>
    new SignJWT({ client_id: 'frontend', jti: crypto.randomUUID(), ...claims })
      .setProtectedHeader({ alg, kid: `k-${alg}`, ...header })
      .setIssuer(issuer.url)
      .setSubject('github:583231')
      .setAudience('internal-services')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(keys[alg]!.privateKey);
  const verify = async (python: string, tokens: string[], extra: string[] = []) =>
    jsonLines<{ ok: boolean; error?: string }>(
      (
        await runPython(python, 'verify_at_jwt.py', ['--issuer', issuer.url, '--audience', 'internal-services', ...extra], {
          input: `${tokens.join('\n')}\n`,
        })
      ).stdout,
    ).map((r) => (r.ok ? 'ok' : r.error));

  it('accepts typ at+jwt with the RFC 9068 claims; rejects typ JWT, a missing client_id, a missing typ', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const tokens = [
      await sign('ES256', { typ: 'at+jwt' }, {}),
      await sign('ES256', { typ: 'application/at+jwt' }, {}),
      await sign('ES256', { typ: 'JWT' }, {}),
      await sign('ES256', { typ: 'at+jwt' }, { client_id: undefined }),
      await sign('ES256', {}, {}),
    ];
    assert.deepEqual(await verify(python, tokens), ['ok', 'ok', 'InvalidClaimError', 'MissingClaimError', 'MissingTypError']);
    // Authlib on its own lets a token without typ through; the script's stricter check is opt-out.
    assert.deepEqual(await verify(python, [tokens[4]!], ['--allow-missing-typ']), ['ok']);
  });

  it('algorithms: Authlib (joserfc defaults) verifies ES256/RS256 but not ES384; the joserfc engine follows discovery', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const tokens = [
      await sign('ES256', { typ: 'at+jwt' }, {}),
      await sign('RS256', { typ: 'at+jwt' }, {}),
      await sign('ES384', { typ: 'at+jwt' }, {}),
    ];
    assert.deepEqual(await verify(python, tokens), ['ok', 'ok', 'UnsupportedAlgorithmError']);
    assert.deepEqual(await verify(python, tokens, ['--engine', 'joserfc']), ['ok', 'ok', 'ok']);
  });
});

describe('token_exchange.py (RFC 8693 client) against a local token endpoint', () => {
  let endpoint: LoopbackServer;
  let dir: string;
  const seen: { authorization?: string; form: [string, string][] }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'authjwt-tx-'));
    writeFileSync(join(dir, 'subject'), 'subject-token-value\n', { mode: 0o600 });
    writeFileSync(join(dir, 'secret'), 's3cret\n', { mode: 0o600 });
    endpoint = await listen((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const form = [...new URLSearchParams(body)];
        seen.push({ authorization: req.headers.authorization, form });
        const params = new URLSearchParams(body);
        if (params.getAll('audience').includes('unknown')) {
          res
            .writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' })
            .end(JSON.stringify({ error: 'invalid_target' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(
          JSON.stringify({
            access_token: 'minted',
            issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
            token_type: 'Bearer',
            expires_in: 300,
          }),
        );
      });
    });
  });
  after(async () => {
    await endpoint?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('authlib client: sends the RFC 8693 form with client_secret_basic; reports 200 and 400 answers', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const args = [
      '--token-endpoint',
      `${endpoint.url}/token`,
      '--subject-token-file',
      join(dir, 'subject'),
      '--client-id',
      'gw',
      '--client-secret-file',
      join(dir, 'secret'),
    ];
    const ok = jsonResult<{ httpStatus: number; body: { access_token: string }; headers: Record<string, string>; authlib: unknown }>(
      await runPython(python, 'token_exchange.py', [...args, '--audience', 'internal-services']),
    );
    assert.equal(ok.httpStatus, 200);
    assert.equal(ok.body.access_token, 'minted');
    assert.equal(ok.headers['cache-control'], 'no-store');
    const req = seen.at(-1)!;
    assert.equal(req.authorization, `Basic ${Buffer.from('gw:s3cret').toString('base64')}`);
    assert.deepEqual(Object.fromEntries(req.form), {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'subject-token-value',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'internal-services',
    });
    assert.deepEqual(ok.authlib, { ok: true });
    const bad = jsonResult<{ httpStatus: number; body: { error: string }; authlib: { ok: boolean; error: string } }>(
      await runPython(python, 'token_exchange.py', [...args, '--audience', 'unknown']),
    );
    assert.deepEqual([bad.httpStatus, bad.body.error], [400, 'invalid_target']);
    assert.deepEqual([bad.authlib.ok, bad.authlib.error], [false, 'invalid_target']);
  });

  it('requests client: repeated audience parameters, no client authentication', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const res = jsonResult<{ client: string; httpStatus: number }>(
      await runPython(python, 'token_exchange.py', [
        '--client',
        'requests',
        '--token-endpoint',
        `${endpoint.url}/token`,
        '--subject-token-file',
        join(dir, 'subject'),
        '--audience',
        'a',
        '--audience',
        'b',
      ]),
    );
    assert.deepEqual([res.client, res.httpStatus], ['requests', 200]);
    const req = seen.at(-1)!;
    assert.equal(req.authorization, undefined);
    assert.deepEqual(
      req.form.filter(([k]) => k === 'audience').map(([, v]) => v),
      ['a', 'b'],
    );
  });
});
