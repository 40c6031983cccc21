/**
 * The interop suite (issue 13): authjwt used through clients and libraries nobody here wrote.
 *
 * - gRPC: grpcurl through reflection (list, describe, call, health, the decoded ErrorInfo) and every
 *   grpcurl / grpc-health-probe / curl command of the docs, extracted from the markdown; grpc-health-probe;
 *   the Python grpcio client; a Go client generated from proto/ as is (go_package) and compiled; the
 *   prebuilt getjwt-go; protobuf-ts with GrpcTransport.
 * - JOSE: PyJWT and go-oidc verify minted tokens through discovery for every signing algorithm
 *   (RS256, PS256, ES256, ES384, EdDSA; keys from a Secret-like directory), and an RFC 9068 (`at+jwt`)
 *   enforcing verifier accepts them.
 * - RFC 8693: Authlib (token_exchange.py) against the token endpoint, error codes included.
 * - Discovery metadata as Authlib's strict validators read it.
 * - Algorithm change ES256 → RS256 per the runbook (docs/key-rotation.md) with one long-running go-oidc
 *   verifier, and the negative control without the runbook step.
 *
 * Tools come from .ci/tools.sh (test/helpers/interop-tools.ts): missing ones skip locally and FAIL with CI.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import {
  jsonLines,
  jsonResult,
  PROTO_DIR,
  REPO_ROOT,
  requireTool,
  runPython,
  runTool,
  startLineProcess,
  toolsEnv,
  toolsPathEnv,
} from '../helpers/interop-tools.ts';
import { freePort } from '../helpers/net.ts';
import { generateProtobufTs } from '../helpers/protobuf-ts.ts';
import { privateKeyPem, writeSecretRevision } from '../helpers/secret-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const OCTOCAT = { id: 583231, login: 'octocat', name: 'The Octocat', email: null };
const GH_TOKEN = 'gho_interop_suite_octocat';
const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';

const octocatAccount = { provider: 'github', type: 'oauth', providerAccountId: '583231', accessToken: GH_TOKEN };

describe('gRPC clients against a running authjwt (FAKE GitHub behind it)', () => {
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let grpcAddr: string;
  let dir: string;
  let tokenFile: string;

  before(async () => {
    gh = await startFakeGitHub();
    gh.issue(GH_TOKEN, OCTOCAT, 'Iv1.interop');
    svc = await startAuthJwt({
      tokenEndpoint: { enabled: true },
      providers: [fakeGitHubProvider(gh, { timeout: '2s' })],
    });
    grpcAddr = `127.0.0.1:${svc.app.grpcPort}`;
    dir = mkdtempSync(join(tmpdir(), 'authjwt-interop-'));
    tokenFile = join(dir, 'access-token');
    writeFileSync(tokenFile, `${GH_TOKEN}\n`, { mode: 0o600 });
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const grpcurl = (bin: string, args: string[], input?: string) =>
    runTool(bin, ['-plaintext', ...args], input === undefined ? {} : { input });

  it('grpcurl list and describe through server reflection (no proto files)', async (t) => {
    const bin = requireTool(t, 'grpcurl');
    if (!bin) return;
    const list = await grpcurl(bin, [grpcAddr, 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(list.stdout.trim().split('\n').sort(), ['auth.v1alpha1.AuthAPI', 'grpc.health.v1.Health']);
    const service = await grpcurl(bin, [grpcAddr, 'describe', 'auth.v1alpha1.AuthAPI']);
    assert.equal(service.code, 0, service.stderr);
    assert.match(service.stdout, /rpc GetJWT \( \.auth\.v1alpha1\.GetJWTRequest \) returns \( \.auth\.v1alpha1\.GetJWTResponse \)/);
    const account = await grpcurl(bin, [grpcAddr, 'describe', 'auth.v1alpha1.Account']);
    assert.match(account.stdout, /string provider_account_id = 3;/);
    assert.match(account.stdout, /string access_token = 4;/);
    // The health service describes too (its map field needed protoc's entry names, src/grpc/reflection.ts).
    const health = await grpcurl(bin, [grpcAddr, 'describe', 'grpc.health.v1.HealthListResponse']);
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout, /map<string, \.grpc\.health\.v1\.HealthCheckResponse> statuses = 1;/);
  });

  it('grpcurl calls GetJWT through reflection; a failure shows the decoded google.rpc.ErrorInfo', async (t) => {
    const bin = requireTool(t, 'grpcurl');
    if (!bin) return;
    const ok = await grpcurl(bin, ['-d', '@', grpcAddr, 'auth.v1alpha1.AuthAPI/GetJWT'], JSON.stringify({ account: octocatAccount }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await svc.verify((JSON.parse(ok.stdout) as { token: string }).token)).payload.sub, 'github:583231');
    const denied = await grpcurl(
      bin,
      ['-format-error', '-d', '@', grpcAddr, 'auth.v1alpha1.AuthAPI/GetJWT'],
      JSON.stringify({ account: { ...octocatAccount, providerAccountId: '1024' } }),
    );
    assert.notEqual(denied.code, 0);
    // -format-error prints the status as JSON on stderr.
    const error = JSON.parse(denied.stderr) as { code: number; message: string; details: Record<string, unknown>[] };
    assert.equal(error.code, status.UNAUTHENTICATED);
    assert.match(error.message, /\(ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH\)$/);
    assert.deepEqual(error.details, [
      { '@type': ERROR_INFO, reason: 'ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH', domain: 'authjwt', metadata: { provider: 'github' } },
    ]);
    assert.ok(!denied.stdout.includes(GH_TOKEN) && !denied.stderr.includes(GH_TOKEN));
  });

  it('grpcurl health Check (server and AuthAPI) through reflection', async (t) => {
    const bin = requireTool(t, 'grpcurl');
    if (!bin) return;
    for (const service of ['', 'auth.v1alpha1.AuthAPI']) {
      const res = await grpcurl(bin, ['-d', JSON.stringify({ service }), grpcAddr, 'grpc.health.v1.Health/Check']);
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { status: 'SERVING' });
    }
    const unknown = await grpcurl(bin, ['-d', '{"service":"nope"}', grpcAddr, 'grpc.health.v1.Health/Check']);
    assert.match(unknown.stderr, /NotFound/);
  });

  it('every grpcurl, grpc-health-probe and curl command in README.md and docs/ runs as written', async (t) => {
    const grpcurlBin = requireTool(t, 'grpcurl');
    const probe = requireTool(t, 'grpc-health-probe');
    const curl = requireTool(t, 'curl');
    if (!grpcurlBin || !probe || !curl) return;
    const blocks = docCommandBlocks();
    const files = new Set(blocks.map((b) => b.file));
    // The extraction must see what the docs are known to hold (a silent zero would prove nothing).
    assert.ok(blocks.length >= 6, `only ${blocks.length} command blocks found`);
    for (const f of ['docs/clients.md', 'docs/operations.md', 'docs/token-endpoint.md']) assert.ok(files.has(f), `no command in ${f}`);
    assert.ok(
      blocks.some((b) => b.file === 'docs/operations.md' && /grpcurl .*grpc\.health\.v1\.Health\/Check/.test(b.script)),
      'the health command of docs/operations.md',
    );
    const internal = `127.0.0.1:${svc.app.internalHttpPort}`;
    for (const block of blocks) {
      const script = block.script
        .replaceAll('127.0.0.1:50051', grpcAddr)
        .replaceAll('127.0.0.1:8081', internal)
        .replaceAll('127.0.0.1:8080', `127.0.0.1:${svc.app.httpPort}`);
      const res = await runTool('/bin/sh', ['-e', '-c', script], {
        env: { ...toolsPathEnv(), ACCESS_TOKEN: GH_TOKEN },
        cwd: REPO_ROOT,
      });
      assert.equal(res.code, 0, `${block.file}:${block.line}\n${block.script}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
      assert.ok(res.stdout.trim() || res.stderr.trim(), `${block.file}:${block.line} printed nothing`);
      if (/GetJWT/.test(block.script)) assert.match(res.stdout, /"token": "eyJ/);
      if (/\/token\b/.test(block.script) && /curl/.test(block.script)) {
        const body = JSON.parse(res.stdout) as { access_token: string; issued_token_type: string };
        assert.equal((await svc.verify(body.access_token)).payload.sub, 'github:583231');
      }
    }
  });

  it('grpc-health-probe reports SERVING for the server and for auth.v1alpha1.AuthAPI', async (t) => {
    const bin = requireTool(t, 'grpc-health-probe');
    if (!bin) return;
    for (const args of [[], ['-service=auth.v1alpha1.AuthAPI']]) {
      const res = await runTool(bin, [`-addr=${grpcAddr}`, ...args]);
      assert.equal(res.code, 0, res.stderr);
      assert.match(`${res.stdout}${res.stderr}`, /status: SERVING/);
    }
    const unknown = await runTool(bin, [`-addr=${grpcAddr}`, '-service=nope']);
    assert.notEqual(unknown.code, 0);
  });

  it('Python grpcio (client.py): GetJWT OK; a mismatch carries ErrorInfo {reason, domain, provider}; Health SERVING', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const args = (accountId: string) => [
      'getjwt',
      '--addr',
      grpcAddr,
      '--provider',
      'github',
      '--type',
      'oauth',
      '--account-id',
      accountId,
      '--token-file',
      tokenFile,
    ];
    const ok = jsonResult<{ status: string; token: string }>(await runPython(python, 'client.py', args('583231')));
    assert.equal(ok.status, 'OK');
    assert.equal((await svc.verify(ok.token)).payload.sub, 'github:583231');
    const denied = jsonResult<Record<string, unknown>>(await runPython(python, 'client.py', args('1024')));
    assert.deepEqual(
      { code: denied.code, errorInfo: denied.errorInfo, details: denied.details },
      {
        code: status.UNAUTHENTICATED,
        errorInfo: { reason: 'ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH', domain: 'authjwt', metadata: { provider: 'github' } },
        details: [ERROR_INFO],
      },
    );
    const unknownProvider = jsonResult<{ code: number; errorInfo: { reason: string; metadata: Record<string, string> } }>(
      await runPython(python, 'client.py', [
        'getjwt',
        '--addr',
        grpcAddr,
        '--provider',
        'gitlab',
        '--type',
        'oauth',
        '--account-id',
        '1',
        '--token-file',
        tokenFile,
      ]),
    );
    assert.equal(unknownProvider.code, status.INVALID_ARGUMENT);
    assert.deepEqual(unknownProvider.errorInfo.reason, 'ERR_AUTHJWT_REQUEST_UNKNOWN_PROVIDER');
    assert.deepEqual(unknownProvider.errorInfo.metadata, {}, 'a provider id that is not configured is never echoed');
    for (const service of [[], ['--service', 'auth.v1alpha1.AuthAPI']]) {
      const health: { status: string; servingStatus: string } = jsonResult<{ status: string; servingStatus: string }>(
        await runPython(python, 'client.py', ['health', '--addr', grpcAddr, ...service]),
      );
      assert.deepEqual([health.status, health.servingStatus], ['OK', 'SERVING'], service.join(' ') || 'the server');
    }
  });

  it('getjwt-go (grpc-go, status.Details): OK, and ErrorInfo of a mismatch', async (t) => {
    const bin = requireTool(t, 'getjwt-go');
    if (!bin) return;
    const call = (accountId: string) =>
      runTool(bin, ['-addr', grpcAddr, '-provider', 'github', '-type', 'oauth', '-account-id', accountId, '-token-file', tokenFile]);
    const ok = jsonResult<{ status: string; token: string }>(await call('583231'));
    assert.equal(ok.status, 'OK');
    assert.equal((await svc.verify(ok.token)).payload.sub, 'github:583231');
    // The token read from standard input this time (`-token-file -`).
    const deniedRun = await runTool(
      bin,
      ['-addr', grpcAddr, '-provider', 'github', '-type', 'oauth', '-account-id', '1024', '-token-file', '-'],
      { input: GH_TOKEN },
    );
    assert.equal(deniedRun.code, 0, deniedRun.stderr);
    const denied = jsonResult<{ code: number; status: string; token?: string; message: string; errorInfo: unknown }>(deniedRun);
    assert.deepEqual([denied.code, denied.status, denied.token], [status.UNAUTHENTICATED, 'UNAUTHENTICATED', undefined]);
    assert.ok(!denied.message.includes(GH_TOKEN), 'the error message never echoes the access token');
    assert.deepEqual(denied.errorInfo, {
      reason: 'ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH',
      domain: 'authjwt',
      metadata: { provider: 'github' },
    });
  });

  it('Go: protoc-gen-go/-go-grpc generate from proto/ as is (go_package), the client compiles and calls GetJWT; without go_package protoc-gen-go fails', async (t) => {
    const protoc = requireTool(t, 'protoc');
    const genGo = requireTool(t, 'protoc-gen-go');
    const genGrpc = requireTool(t, 'protoc-gen-go-grpc');
    const go = requireTool(t, 'go');
    if (!protoc || !genGo || !genGrpc || !go) return;
    const work = mkdtempSync(join(tmpdir(), 'authjwt-go-client-'));
    try {
      const plugins = [`--plugin=protoc-gen-go=${genGo}`, `--plugin=protoc-gen-go-grpc=${genGrpc}`];
      // Negative control: the proto without its go_package option (what issue 13 found).
      mkdirSync(join(work, 'bare/auth/v1alpha1'), { recursive: true });
      const proto = readFileSync(join(PROTO_DIR, 'auth/v1alpha1/auth.proto'), 'utf8');
      assert.match(proto, /^option go_package = "authjwt\/gen\/go\/auth\/v1alpha1;authv1alpha1";$/m);
      writeFileSync(join(work, 'bare/auth/v1alpha1/auth.proto'), proto.replace(/^option go_package = .*$/m, ''));
      mkdirSync(join(work, 'bare-out'));
      const bare = await runTool(protoc, [
        ...plugins,
        '-I',
        join(work, 'bare'),
        `--go_out=${join(work, 'bare-out')}`,
        'auth/v1alpha1/auth.proto',
      ]);
      assert.notEqual(bare.code, 0);
      assert.match(bare.stderr, /unable to determine Go import path/);

      // The module: the interop module's requirements and checksums (all in the tools' module cache).
      const mod = join(work, 'client');
      mkdirSync(mod);
      const interopMod = readFileSync(join(REPO_ROOT, 'test/interop/go/go.mod'), 'utf8');
      writeFileSync(join(mod, 'go.mod'), interopMod.replace(/^module .*$/m, 'module authjwt'));
      writeFileSync(join(mod, 'go.sum'), readFileSync(join(REPO_ROOT, 'test/interop/go/go.sum')));
      const gen = await runTool(protoc, [
        ...plugins,
        '-I',
        PROTO_DIR,
        `--go_out=${mod}`,
        '--go_opt=module=authjwt',
        `--go-grpc_out=${mod}`,
        '--go-grpc_opt=module=authjwt',
        'auth/v1alpha1/auth.proto',
      ]);
      assert.equal(gen.code, 0, gen.stderr);
      writeFileSync(join(mod, 'main.go'), GO_CLIENT);
      const cache = toolsEnv().AUTHJWT_TOOLS_CACHE ?? join(tmpdir(), 'authjwt-go-cache');
      const goEnv = {
        ...toolsPathEnv(),
        GOMODCACHE: join(cache, 'go/mod'),
        GOCACHE: join(cache, 'go/build'),
        GOFLAGS: '-mod=mod',
        GOPROXY: 'off',
        GOTOOLCHAIN: 'local',
        CGO_ENABLED: '0',
      };
      const build = await runTool(go, ['build', '-o', join(work, 'getjwt'), '.'], { cwd: mod, env: goEnv, timeoutMs: 300_000 });
      assert.equal(build.code, 0, build.stderr);
      const run = (accountId: string) =>
        runTool(join(work, 'getjwt'), [grpcAddr, accountId], { env: { ...goEnv, ACCESS_TOKEN: GH_TOKEN } });
      const ok = (await run('583231')).stdout.trim().split(' ');
      assert.equal(ok[0], 'token');
      assert.equal((await svc.verify(ok[1]!)).payload.sub, 'github:583231');
      assert.equal((await run('1024')).stdout.trim(), 'error Unauthenticated ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('protobuf-ts (generated with @protobuf-ts/plugin, GrpcTransport): getJWT → response.token; RpcError with the details trailer', async (t) => {
    const protoc = requireTool(t, 'protoc');
    if (!protoc) return;
    const generated = await generateProtobufTs(protoc);
    try {
      const { AuthAPIClient } = (await import(generated.jsClientUrl)) as {
        AuthAPIClient: new (
          transport: unknown,
        ) => {
          getJWT(input: unknown, options?: unknown): Promise<{ response: { token: string } }>;
        };
      };
      const { GrpcTransport } = await import('@protobuf-ts/grpc-transport');
      const { ChannelCredentials } = await import('@grpc/grpc-js');
      const transport = new GrpcTransport({ host: grpcAddr, channelCredentials: ChannelCredentials.createInsecure() });
      try {
        const client = new AuthAPIClient(transport);
        const { response } = await client.getJWT({ account: octocatAccount }, { timeout: 10_000 });
        assert.equal((await svc.verify(response.token)).payload.sub, 'github:583231');
        await assert.rejects(
          async () => client.getJWT({ account: { ...octocatAccount, providerAccountId: '1024' } }, { timeout: 10_000 }),
          (e: Error) => {
            const rpc = e as Error & { code: string; meta: Record<string, string | string[]> };
            assert.equal(rpc.name, 'RpcError');
            assert.equal(rpc.code, 'UNAUTHENTICATED');
            assert.ok(rpc.meta['grpc-status-details-bin'], 'the details trailer reaches protobuf-ts callers');
            return true;
          },
        );
      } finally {
        transport.close();
      }
    } finally {
      generated.remove();
    }
  });
});

/** A Go client of the generated package, as a user would write it: prints "token …" or "error <code> <reason>". */
const GO_CLIENT = `package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	authv1alpha1 "authjwt/gen/go/auth/v1alpha1"
)

func main() {
	conn, err := grpc.NewClient(os.Args[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := authv1alpha1.NewAuthAPIClient(conn).GetJWT(ctx, &authv1alpha1.GetJWTRequest{Account: &authv1alpha1.Account{
		Provider: "github", Type: "oauth", ProviderAccountId: os.Args[2], AccessToken: os.Getenv("ACCESS_TOKEN"),
	}})
	if err != nil {
		st := status.Convert(err)
		reason := ""
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		fmt.Println("error", st.Code(), reason)
		return
	}
	fmt.Println("token", res.GetToken())
}
`;

/** Fenced `sh` blocks of README.md and docs/*.md that run grpcurl, grpc-health-probe or curl against the local ports. */
function docCommandBlocks(): { file: string; line: number; script: string }[] {
  const files = ['README.md', 'docs/clients.md', 'docs/operations.md', 'docs/token-endpoint.md'];
  const out: { file: string; line: number; script: string }[] = [];
  for (const file of files) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const m of text.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm)) {
      const script = m[1]!;
      if (!/^(grpcurl|grpc-health-probe|curl)\b/m.test(script)) continue;
      if (!/127\.0\.0\.1:(50051|8081|8080)/.test(script)) continue;
      out.push({ file, line: text.slice(0, m.index).split('\n').length, script });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
describe('JOSE verifiers through discovery, for every signing algorithm', () => {
  let gh: FakeGitHub;
  before(async () => {
    gh = await startFakeGitHub();
    gh.issue(GH_TOKEN, OCTOCAT, 'Iv1.interop');
  });
  after(async () => {
    await gh?.close();
  });

  const KEYS: Record<string, () => [string, string]> = {
    RS256: () => ['signing.pem', privateKeyPem('rsa')],
    PS256: () => [
      'signing.json',
      JSON.stringify({ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), alg: 'PS256' }),
    ],
    ES256: () => ['signing.pem', privateKeyPem('P-256')],
    ES384: () => ['signing.pem', privateKeyPem('P-384')],
    EdDSA: () => ['signing.pem', privateKeyPem('ed25519')],
  };
  /** Authlib's own JOSE layer (joserfc defaults) verifies only its "recommended" algorithms (test/interop/README.md). */
  const AUTHLIB_DEFAULT = new Set(['RS256', 'ES256']);

  for (const [alg, keyFile] of Object.entries(KEYS)) {
    it(`${alg}: PyJWT and go-oidc verify through discovery; the RFC 9068 validator (typ at+jwt) accepts`, async (t) => {
      const python = requireTool(t, 'python');
      const oidcVerify = requireTool(t, 'oidc-verify');
      if (!python || !oidcVerify) return;
      const dir = mkdtempSync(join(tmpdir(), `authjwt-keys-${alg}-`));
      const [name, content] = keyFile();
      writeSecretRevision(dir, { [name]: content }, 1);
      const svc = await startAuthJwt({ keys: { dir }, providers: [fakeGitHubProvider(gh, { timeout: '2s' })] });
      try {
        const minted = await svc.getJwt(octocatAccount);
        assert.equal(minted.code, status.OK, minted.details);
        const token = minted.token!;
        assert.deepEqual([decodeProtectedHeader(token).alg, decodeProtectedHeader(token).typ], [alg, 'at+jwt']);
        const discovery = (await (await fetch(`${svc.httpUrl}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
        assert.deepEqual(discovery.id_token_signing_alg_values_supported, [alg]);
        const issuer = svc.config.issuer;
        // jose (panva), through discovery as well.
        assert.equal((await svc.verify(token)).payload.sub, 'github:583231');

        const pyjwt = await runPython(python, 'verify_jwt.py', ['--issuer', issuer, '--audience', 'internal-services'], {
          input: `${token}\n`,
        });
        assert.equal(pyjwt.code, 0, pyjwt.stdout + pyjwt.stderr);
        assert.equal(jsonLines<{ claims: { sub: string } }>(pyjwt.stdout)[0]!.claims.sub, 'github:583231');

        const verifier = startLineProcess(oidcVerify, ['-issuer', issuer, '-audience', 'internal-services']);
        try {
          const out = JSON.parse(await verifier.send(token)) as { ok: boolean; error?: string; header: { alg: string } };
          assert.equal(out.ok, true, out.error);
          assert.equal(out.header.alg, alg);
        } finally {
          await verifier.close();
        }

        const atJwt = await runPython(
          python,
          'verify_at_jwt.py',
          ['--issuer', issuer, '--audience', 'internal-services', '--engine', 'joserfc'],
          {
            input: `${token}\n`,
          },
        );
        assert.equal(atJwt.code, 0, atJwt.stdout + atJwt.stderr);
        assert.equal(jsonLines<{ ok: boolean; claims: { client_id: string } }>(atJwt.stdout)[0]!.claims.client_id, 'github');
        const authlib = jsonLines<{ ok: boolean; error?: string }>(
          (await runPython(python, 'verify_at_jwt.py', ['--issuer', issuer, '--audience', 'internal-services'], { input: `${token}\n` }))
            .stdout,
        )[0]!;
        assert.deepEqual(authlib.ok ? 'ok' : authlib.error, AUTHLIB_DEFAULT.has(alg) ? 'ok' : 'UnsupportedAlgorithmError');
      } finally {
        await svc.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('the RFC 9068 validator rejects the same token minted with tokenType JWT (the enforcement is real)', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const svc = await startAuthJwt({ tokenType: 'JWT', providers: [fakeGitHubProvider(gh, { timeout: '2s' })] });
    try {
      const minted = await svc.getJwt(octocatAccount);
      assert.equal(decodeProtectedHeader(minted.token!).typ, 'JWT');
      const res = await runPython(
        python,
        'verify_at_jwt.py',
        ['--issuer', svc.config.issuer, '--audience', 'internal-services', '--engine', 'joserfc'],
        {
          input: `${minted.token}\n`,
        },
      );
      assert.equal(res.code, 1);
      assert.equal(jsonLines<{ error: string }>(res.stdout)[0]!.error, 'InvalidTypError');
    } finally {
      await svc.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
describe('RFC 8693 token endpoint with Authlib (token_exchange.py)', () => {
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let dir: string;
  const file = (name: string, content: string) => {
    const f = join(dir, name);
    writeFileSync(f, `${content}\n`, { mode: 0o600 });
    return f;
  };

  before(async () => {
    gh = await startFakeGitHub();
    gh.issue(GH_TOKEN, OCTOCAT, 'Iv1.interop');
    svc = await startAuthJwt({
      tokenEndpoint: { enabled: true },
      providers: [fakeGitHubProvider(gh, { timeout: '2s', audience: ['internal-services', 'orders'], retries: 0 })],
    });
    dir = mkdtempSync(join(tmpdir(), 'authjwt-authlib-'));
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  interface Exchange {
    client: string;
    httpStatus: number;
    headers: Record<string, string>;
    body: {
      access_token?: string;
      issued_token_type?: string;
      token_type?: string;
      expires_in?: number;
      error?: string;
      error_description?: string;
    };
    authlib?: { ok: boolean; error?: string };
    tokenEndpoint: string;
  }
  const exchange = async (python: string, args: string[], subject = GH_TOKEN) =>
    jsonResult<Exchange>(
      await runPython(python, 'token_exchange.py', [
        '--issuer',
        svc.config.issuer,
        '--subject-token-file',
        file('subject', subject),
        ...args,
      ]),
    );

  it('Authlib finds the endpoint through discovery, exchanges (auth method none) and downscopes the audience', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const ok = await exchange(python, ['--subject-issuer', 'github', '--client-id', 'frontend-backend', '--auth-method', 'none']);
    assert.equal(ok.tokenEndpoint, `http://127.0.0.1:${svc.app.internalHttpPort}/token`);
    assert.deepEqual([ok.httpStatus, ok.authlib], [200, { ok: true }]);
    assert.equal(ok.headers['cache-control'], 'no-store');
    assert.deepEqual([ok.body.issued_token_type, ok.body.token_type], ['urn:ietf:params:oauth:token-type:access_token', 'Bearer']);
    assert.ok(ok.body.expires_in! > 0 && ok.body.expires_in! <= 900);
    const { payload, protectedHeader } = await svc.verify(ok.body.access_token!);
    assert.deepEqual([payload.sub, payload.aud, protectedHeader.typ], ['github:583231', ['internal-services', 'orders'], 'at+jwt']);
    const narrowed = await exchange(python, ['--subject-issuer', 'github', '--audience', 'orders']);
    assert.equal(narrowed.httpStatus, 200);
    assert.equal(JSON.parse(Buffer.from(narrowed.body.access_token!.split('.')[1]!, 'base64url').toString()).aud, 'orders');
  });

  it('error codes as Authlib reads them: invalid_target, invalid_request, invalid_client, unsupported_grant_type, temporarily_unavailable', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const read = (e: Exchange) => [e.httpStatus, e.body.error, e.authlib?.error ?? null];
    assert.deepEqual(read(await exchange(python, ['--subject-issuer', 'github', '--audience', 'payments'])), [
      400,
      'invalid_target',
      'invalid_target',
    ]);
    const bad = await exchange(python, ['--subject-issuer', 'github'], 'gho_not_a_valid_token');
    assert.deepEqual(read(bad), [400, 'invalid_request', 'invalid_request']);
    assert.match(bad.body.error_description!, /\(ERR_AUTHJWT_UPSTREAM_REJECTED_BY_PROVIDER\)$/);
    assert.deepEqual(read(await exchange(python, ['--subject-issuer', 'gitlab'])), [400, 'invalid_request', 'invalid_request']);
    assert.deepEqual(read(await exchange(python, ['--subject-issuer', 'github', '--scope', 'read'])), [
      400,
      'invalid_request',
      'invalid_request',
    ]);
    // Authlib's default client authentication (client_secret_basic) is refused, with a Basic challenge.
    const basic = await exchange(python, [
      '--subject-issuer',
      'github',
      '--client-id',
      'gw',
      '--client-secret-file',
      file('secret', 's3cret'),
    ]);
    assert.deepEqual(read(basic), [401, 'invalid_client', 'invalid_client']);
    assert.equal(basic.headers['www-authenticate'], 'Basic realm="authjwt"');
    const grant = await exchange(python, ['--client', 'requests', '--grant-type', 'client_credentials']);
    assert.deepEqual([grant.httpStatus, grant.body.error], [400, 'unsupported_grant_type']);
    gh.mode = '500';
    try {
      const down = await exchange(python, ['--subject-issuer', 'github']);
      assert.deepEqual([down.httpStatus, down.body.error], [503, 'temporarily_unavailable']);
    } finally {
      gh.mode = 'ok';
    }
  });

  it('requests client: repeated audience parameters downscope to both; a repeated subject_token is invalid_request', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const both = await exchange(python, [
      '--client',
      'requests',
      '--subject-issuer',
      'github',
      '--audience',
      'orders',
      '--audience',
      'internal-services',
    ]);
    assert.equal(both.httpStatus, 200);
    assert.deepEqual(JSON.parse(Buffer.from(both.body.access_token!.split('.')[1]!, 'base64url').toString()).aud, [
      'orders',
      'internal-services',
    ]);
    const repeated = await exchange(python, ['--client', 'requests', '--subject-issuer', 'github', '--param', `subject_token=${GH_TOKEN}`]);
    assert.deepEqual([repeated.httpStatus, repeated.body.error], [400, 'invalid_request']);
  });
});

// ---------------------------------------------------------------------------------------------------
describe('discovery metadata as Authlib validates it (docs/clients.md#discovery)', () => {
  it('only true members: strict RFC 8414 / OIDC validators stop where a non-login issuer must differ', async (t) => {
    const python = requireTool(t, 'python');
    if (!python) return;
    const github = [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: 'http://127.0.0.1:9/user' }];
    const results: Record<string, unknown>[] = [];
    for (const enabled of [false, true]) {
      const svc = await startAuthJwt({ tokenEndpoint: { enabled }, providers: github });
      try {
        results.push(jsonResult(await runPython(python, 'check_metadata.py', ['--issuer', svc.config.issuer])));
      } finally {
        await svc.stop();
      }
    }
    const [plain, withEndpoint] = results as { rfc8414: string; openid: string; members: string[] }[];
    assert.ok(!plain!.members.includes('authorization_endpoint') && !withEndpoint!.members.includes('authorization_endpoint'));
    assert.deepEqual([plain!.rfc8414, plain!.openid], ['"token_endpoint" is required', '"token_endpoint" is required']);
    assert.deepEqual(
      [withEndpoint!.rfc8414, withEndpoint!.openid],
      ['"response_types_supported" is required', '"response_types_supported" is required'],
    );
  });
});

// ---------------------------------------------------------------------------------------------------
describe('algorithm change ES256 → RS256 with a long-running go-oidc verifier (docs/key-rotation.md)', () => {
  it('a verifier started after the new algorithm was advertised keeps verifying across the change; one started before it breaks (negative control)', async (t) => {
    const oidcVerify = requireTool(t, 'oidc-verify');
    if (!oidcVerify) return;
    const gh = await startFakeGitHub();
    gh.issue(GH_TOKEN, OCTOCAT, 'Iv1.interop');
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-alg-change-'));
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const ecPem = privateKeyPem('P-256');
    const rsaPem = privateKeyPem('rsa');
    writeSecretRevision(dir, { 'signing-2026-11.pem': ecPem }, 1);
    const start = (keys: Record<string, unknown>) =>
      startAuthJwt({
        issuer: `http://127.0.0.1:${httpPort}`,
        http: { listen: `127.0.0.1:${httpPort}` },
        grpc: { listen: `127.0.0.1:${grpcPort}` },
        keys: { dir, reloadInterval: '100ms', publishLeadTime: '1s', ...keys },
        providers: [fakeGitHubProvider(gh, { timeout: '2s' })],
      });
    const issuer = `http://127.0.0.1:${httpPort}`;
    const verify = async (v: ReturnType<typeof startLineProcess>, token: string) =>
      JSON.parse(await v.send(token)) as { ok: boolean; error?: string };
    let svc = await start({});
    const before = startLineProcess(oidcVerify, ['-issuer', issuer, '-audience', 'internal-services']);
    let after: ReturnType<typeof startLineProcess> | undefined;
    try {
      const mint = async () => {
        const res = await svc.getJwt(octocatAccount);
        assert.equal(res.code, status.OK, res.details);
        return res.token!;
      };
      const es256 = await mint();
      assert.equal((await verify(before, es256)).ok, true);

      // Runbook step 1: announce RS256 (keys.advertisedAlgorithms), rolled out before any RS256 key exists.
      await svc.stop();
      svc = await start({ advertisedAlgorithms: ['RS256'] });
      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
      assert.deepEqual(discovery.id_token_signing_alg_values_supported, ['ES256', 'RS256']);
      // Runbook step 2: discovery-once verifiers (re)start after the announcement.
      after = startLineProcess(oidcVerify, ['-issuer', issuer, '-audience', 'internal-services']);
      assert.equal((await verify(after, await mint())).ok, true, 'ES256 tokens still verify');
      await waitFor(() => /"algorithms":\["ES256","RS256"\]/.test(after!.stderr()), { what: 'the new verifier to read discovery' });

      // Runbook step 3: add the RS256 key to the Secret; it is published first and signs after the lead time.
      writeSecretRevision(dir, { 'signing-2026-11.pem': ecPem, 'signing-2026-12.pem': rsaPem }, 2);
      const rs256 = await waitFor(
        async () => {
          const token = await mint();
          return decodeProtectedHeader(token).alg === 'RS256' ? token : undefined;
        },
        { what: 'authjwt to sign with the RS256 key', timeout: 30_000, interval: 200 },
      );
      const afterResult = await verify(after, rs256);
      assert.equal(afterResult.ok, true, afterResult.error);
      assert.equal((await verify(after, es256)).ok, true, 'tokens of the old key keep verifying while it is published');
      // Negative control: the verifier that read discovery before the announcement rejects the new tokens.
      const beforeResult = await verify(before, rs256);
      assert.equal(beforeResult.ok, false);
      assert.match(beforeResult.error!, /RS256|signing algorithm|unexpected/i);
      assert.match(before.stderr(), /"algorithms":\["ES256"\]/);
    } finally {
      await before.close();
      await after?.close();
      await svc.stop();
      await gh.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
