/**
 * The README's "Calling it" examples, executed as written against a running authjwt (a FAKE GitHub
 * behind it): each code block is extracted from README.md, saved as a module and imported by a fresh
 * Node process that calls its `internalToken(account)` with an Auth.js-shaped account. The only edit
 * is the protobuf-ts import of the generated client, pointed at the client this test generates
 * (test/helpers/protobuf-ts.ts, Debian's protoc).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { REPO_ROOT, requireTool, runTool } from '../helpers/interop-tools.ts';
import { generateProtobufTs, type ProtobufTsClient } from '../helpers/protobuf-ts.ts';

/** The fenced code blocks of the README's "Calling it" section, by language tag. */
function callingItBlocks(): { lang: string; code: string }[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /^## Calling it\n([\s\S]*?)^## /m.exec(readme)?.[1];
  assert.ok(section, 'README.md has a "## Calling it" section');
  return [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

const GENERATED_IMPORT = './gen/auth/v1alpha1/auth.client';

describe('README "Calling it" examples run against a live authjwt', () => {
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let dir: string;
  const blocks = callingItBlocks();

  before(async () => {
    gh = await startFakeGitHub();
    gh.issue('gho_readme_octocat', { id: 583231, login: 'octocat', name: 'The Octocat', email: null }, 'Iv1.app');
    svc = await startAuthJwt({
      providers: [fakeGitHubProvider(gh)],
    });
    mkdirSync(join(REPO_ROOT, '.cache'), { recursive: true });
    dir = mkdtempSync(join(REPO_ROOT, '.cache', 'readme-'));
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Imports `file` in a new Node process and prints the outcome of `internalToken(account)` as JSON. */
  const callSnippet = async (
    file: string,
    account: Record<string, string>,
  ): Promise<{ token?: string; error?: { code: unknown; message: string } }> => {
    const driver = `
        const { internalToken } = await import(${JSON.stringify(pathToFileURL(file).href)});
        try { console.log(JSON.stringify({ token: await internalToken(JSON.parse(process.env.ACCOUNT)) })); }
        catch (e) { console.log(JSON.stringify({ error: { code: e.code, message: e.message } })); }
        process.exit(0);`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AUTHJWT_ADDRESS: `127.0.0.1:${svc.app.grpcPort}`,
      ACCOUNT: JSON.stringify(account),
    };
    delete env.NODE_TEST_CONTEXT;
    const res = await runTool(process.execPath, ['--input-type=module', '-e', driver], { env, timeoutMs: 60_000 });
    try {
      return JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '');
    } catch {
      throw new Error(`snippet process exited ${res.code}: ${res.stderr}${res.stdout}`);
    }
  };

  const account = { provider: 'github', type: 'oauth', providerAccountId: '583231', access_token: 'gho_readme_octocat' };

  it('the section has exactly the two examples: grpc-js + proto-loader (js) and protobuf-ts (ts)', () => {
    assert.deepEqual(
      blocks.map((b) => b.lang),
      ['js', 'ts'],
    );
    assert.match(blocks[0]!.code, /@grpc\/proto-loader/);
    assert.match(blocks[1]!.code, /@protobuf-ts\/grpc-transport/);
    assert.ok(blocks[1]!.code.includes(`'${GENERATED_IMPORT}'`), 'the protobuf-ts example imports the generated client');
  });

  it('grpc-js + proto-loader (promisified): a token for the account; another account id is UNAUTHENTICATED (code 16)', async () => {
    const file = join(dir, 'grpc-js.mjs');
    writeFileSync(file, blocks[0]!.code);
    const ok = await callSnippet(file, account);
    assert.ok(ok.token, JSON.stringify(ok));
    assert.equal((await svc.verify(ok.token)).payload.sub, 'github:583231');
    const denied = await callSnippet(file, { ...account, providerAccountId: '1' });
    assert.equal(denied.error?.code, 16);
    assert.match(denied.error!.message, /ERR_AUTHJWT_UPSTREAM_ACCOUNT_MISMATCH/);
  });

  it('protobuf-ts (generated with @protobuf-ts/plugin, GrpcTransport): a token; a wrong account is RpcError UNAUTHENTICATED', async (t) => {
    const protoc = requireTool(t, 'protoc');
    if (!protoc) return;
    let generated: ProtobufTsClient | undefined;
    try {
      generated = await generateProtobufTs(protoc);
      assert.match(readFileSync(generated.tsClientFile, 'utf8'), /getJWT\(input: GetJWTRequest, options\?: RpcOptions\)/);
      const file = join(dir, 'protobuf-ts.ts');
      writeFileSync(file, blocks[1]!.code.replace(`'${GENERATED_IMPORT}'`, `'${generated.jsClientUrl}'`));
      const ok = await callSnippet(file, account);
      assert.ok(ok.token, JSON.stringify(ok));
      assert.equal((await svc.verify(ok.token)).payload.sub, 'github:583231');
      const denied = await callSnippet(file, { ...account, providerAccountId: '1' });
      assert.equal(denied.error?.code, 'UNAUTHENTICATED');
    } finally {
      generated?.remove();
    }
  });
});
