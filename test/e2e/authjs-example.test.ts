/**
 * The example frontend (examples/authjs-sveltekit: SvelteKit + Auth.js v5 + protobuf-ts gRPC) driven
 * end to end in headless Chromium: a real Keycloak (container), authjwt started from the example's
 * own config file (examples/authjs-sveltekit/authjwt.yaml, ports and Keycloak URL substituted), the
 * example built (scripts/build-example.sh) and run with `node build`.
 *
 * alice signs in through Keycloak's own login form; Auth.js's `jwt` callback sends her account to
 * GetJWT server-side; the page shows the minted token's claims, and the token (fetched through the
 * example's dev-only /dev/token route) verifies against authjwt's JWKS. bob signs in in a fresh
 * browser context, and the example's dev-only /dev/get-jwt route sends bob's access token with
 * alice's provider_account_id: UNAUTHENTICATED. Access tokens never reach the browser in this test.
 *
 * Issuer: Keycloak dev mode derives `iss` from the request's host, so the browser, the example's
 * server and authjwt all use the same mapped loopback URL (http://127.0.0.1:<port>/realms/...).
 *
 * No container runtime, no Chromium, or no protoc: FAILS with CI set, skips loudly otherwise.
 */
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startAuthJwtFromFile, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { launchChromium, NoChromiumError } from '../helpers/chromium.ts';
import { NoContainerRuntimeError, startKeycloak, type RunningKeycloak } from '../helpers/keycloak.ts';
import { freePort } from '../helpers/net.ts';
import { missingPrerequisite, requirePrerequisite } from '../helpers/prerequisite.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE_DIR = join(ROOT, 'examples', 'authjs-sveltekit');
/** The example's Keycloak client (test/fixtures/keycloak-realm.json). */
const CLIENT = { id: 'authjs-example', secret: 'authjs-example-secret' };
const PROVIDER_ID = 'keycloak'; // the Auth.js provider id, which the example sends as account.provider

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

interface RunningExample {
  url: string;
  logs: string[];
  stop(): Promise<void>;
}

/** `node build` in the example directory with only the given environment (plus PATH/HOME). */
async function startExample(env: Record<string, string>): Promise<RunningExample> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logs: string[] = [];
  const child: ChildProcess = spawn(process.execPath, ['build'], {
    cwd: EXAMPLE_DIR,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: String(port), ORIGIN: url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => logs.push(String(d)));
  child.stderr!.on('data', (d: Buffer) => logs.push(String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`example exited with ${child.exitCode}:\n${logs.join('')}`);
    try {
      if ((await fetch(url)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > end) throw new Error(`example did not answer on ${url}:\n${logs.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    logs,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

describe('example frontend: SvelteKit + Auth.js → GetJWT, in headless Chromium against Keycloak', () => {
  let skipReason: string | undefined;
  let built = false;
  let kc: RunningKeycloak | undefined;
  let svc: RunningAuthJwt | undefined;
  let app: RunningExample | undefined;
  let browser: Browser | undefined;
  let dir: string | undefined;
  let aliceId: string;
  let bobId: string;
  const contexts: BrowserContext[] = [];
  /** Every token this suite saw, to prove none of them shows up where it must not. */
  const seenTokens: string[] = [];
  const suiteStarted = Date.now();
  /** The example's environment for this suite's Keycloak client and authjwt (dev routes off). */
  const exampleEnv = () => ({
    AUTH_SECRET: randomBytes(32).toString('hex'),
    KEYCLOAK_ISSUER: kc!.issuer,
    KEYCLOAK_CLIENT_ID: CLIENT.id,
    KEYCLOAK_CLIENT_SECRET: CLIENT.secret,
    AUTHJWT_GRPC_ADDR: `127.0.0.1:${svc!.app.grpcPort}`,
  });

  before(async () => {
    // Needs only Node and the npm registry: a broken example fails the suite even locally.
    let started = Date.now();
    const build = spawnSync('sh', [join(ROOT, 'scripts', 'build-example.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(build.status, 0, `scripts/build-example.sh failed:\n${build.stdout}${build.stderr}`);
    built = true;
    console.log(`# example installed, type-checked and built in ${((Date.now() - started) / 1000).toFixed(1)}s`);

    try {
      browser = await launchChromium();
      kc = await startKeycloak();
    } catch (error) {
      if (!(error instanceof NoChromiumError || error instanceof NoContainerRuntimeError)) throw error;
      skipReason = missingPrerequisite('example frontend e2e suite', error.message);
      return;
    }
    console.log(
      kc.shared
        ? `# shared Keycloak container at ${kc.issuer}`
        : `# Keycloak container ready in ${(kc.startupMs / 1000).toFixed(1)}s at ${kc.issuer}`,
    );

    const userId = async (username: string) => {
      const res = await kc!.admin('GET', `/users?username=${username}&exact=true`);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const [user] = JSON.parse(text) as { id: string }[];
      assert.ok(user, `user ${username} in the realm fixture`);
      return user.id;
    };
    aliceId = await userId('alice');
    bobId = await userId('bob');

    // authjwt from the example's own config file (what its README tells users to run), with this
    // test's ports and Keycloak URL substituted.
    dir = mkdtempSync(join(tmpdir(), 'authjwt-example-'));
    const httpPort = await freePort();
    const config = parseYaml(readFileSync(join(EXAMPLE_DIR, 'authjwt.yaml'), 'utf8')) as {
      providers: { id: string; issuer: string; audiences: string[] }[];
    } & Record<string, unknown>;
    assert.deepEqual(
      config.providers.map((p) => [p.id, p.audiences]),
      [[PROVIDER_ID, [CLIENT.id]]],
      'examples/authjs-sveltekit/authjwt.yaml names the Auth.js provider id and the example client',
    );
    config.providers[0]!.issuer = kc.issuer;
    Object.assign(config, {
      issuer: `http://127.0.0.1:${httpPort}`,
      grpc: { listen: '127.0.0.1:0' },
      http: { listen: `127.0.0.1:${httpPort}` },
      logging: { level: 'debug' },
    });
    writeFileSync(join(dir, 'authjwt.yaml'), stringifyYaml(config));
    svc = await startAuthJwtFromFile(join(dir, 'authjwt.yaml'));

    started = Date.now();
    app = await startExample({ ...exampleEnv(), AUTHJWT_EXAMPLE_DEV_ROUTES: 'true' });
    console.log(`# example listening in ${((Date.now() - started) / 1000).toFixed(1)}s at ${app.url}`);
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await app?.stop();
    await svc?.stop();
    await kc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`# example frontend e2e suite ran in ${((Date.now() - suiteStarted) / 1000).toFixed(1)}s`);
  });

  /** A fresh browser context (own cookie jar) signed in through Keycloak's login form. */
  async function signIn(username: string, password: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser!.newContext();
    contexts.push(context);
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    await page.goto(app!.url);
    await page.getByTestId('sign-in').click();
    await page.waitForURL((u) => u.href.startsWith(`${kc!.issuer}/protocol/openid-connect/auth`));
    await page.locator('#username').fill(username);
    await page.locator('#password').fill(password);
    await page.locator('#kc-login').click();
    await page.waitForURL(`${app!.url}/`);
    return { context, page };
  }

  const pageClaims = async (page: Page) => {
    const mintError = page.getByTestId('mint-error');
    if (await mintError.count()) assert.fail(`the page shows a GetJWT failure: ${await mintError.innerText()}`);
    return JSON.parse(await page.getByTestId('claims').innerText()) as Record<string, unknown>;
  };

  const devToken = async (context: BrowserContext) => {
    const res = await context.request.get(`${app!.url}/dev/token`);
    assert.equal(res.status(), 200, await res.text());
    const { token } = (await res.json()) as { token: string };
    seenTokens.push(token);
    return token;
  };

  let alice: { context: BrowserContext; page: Page } | undefined;
  let aliceFirstToken: string | undefined;

  it('generated client (examples/authjs-sveltekit/src/lib/gen) is what scripts/gen.sh makes from proto/', (t) => {
    const noProtoc = spawnSync('protoc', ['--version']).error ? 'protoc not found: apt-get install protobuf-compiler' : undefined;
    if (!requirePrerequisite(t, 'generated-client check', noProtoc)) return;
    assert.ok(built, "the example's node_modules come from scripts/build-example.sh in before()");
    const out = mkdtempSync(join(tmpdir(), 'authjwt-example-gen-'));
    try {
      const gen = spawnSync('sh', [join(EXAMPLE_DIR, 'scripts', 'gen.sh'), out], { encoding: 'utf8' });
      assert.equal(gen.status, 0, gen.stderr);
      const committed = join(EXAMPLE_DIR, 'src', 'lib', 'gen');
      assert.deepEqual(listFiles(out), listFiles(committed));
      for (const file of listFiles(out)) {
        assert.equal(
          readFileSync(join(out, file), 'utf8'),
          readFileSync(join(committed, file), 'utf8'),
          `${file} is stale: run npm run gen in examples/authjs-sveltekit`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("alice signs in through Keycloak's login form → the page shows the minted token's claims; the token verifies against authjwt's JWKS", async (t) => {
    if (skipReason) return t.skip(skipReason);
    alice = await signIn('alice', 'alice');
    const claims = await pageClaims(alice.page);
    assert.equal(claims.sub, `${PROVIDER_ID}:${aliceId}`);
    assert.equal(claims.provider, PROVIDER_ID);
    assert.equal(claims.client_id, CLIENT.id, 'bound to the example client (azp of the Keycloak token)');
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.preferred_username, 'alice');
    assert.equal(await alice.page.getByTestId('refreshes').innerText(), '0', 'minted at sign-in, no refresh yet');

    aliceFirstToken = await devToken(alice.context);
    const { payload, protectedHeader } = await svc!.verify(aliceFirstToken);
    assert.deepEqual(payload, claims, 'the page shows exactly the claims of the verified token');
    assert.equal(payload.iss, svc!.config.issuer);
    assert.ok(protectedHeader.kid);
  });

  it('the minted token and the provider tokens stay on the server: not in the HTML, not in /auth/session, not in a cookie in clear', async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.ok(alice && aliceFirstToken, 'needs the sign-in test');
    const html = await alice.page.content();
    const signature = aliceFirstToken.split('.')[2]!;
    assert.ok(!html.includes(signature), 'minted token in the HTML');
    const session = await alice.context.request.get(`${app!.url}/auth/session`);
    assert.equal(session.status(), 200);
    const body = await session.text();
    assert.deepEqual(Object.keys(JSON.parse(body) as object).sort(), ['expires', 'user']);
    assert.ok(!body.includes(signature) && !/access_token|accessToken|refresh/i.test(body), '/auth/session leaks a token');
    const cookies = await alice.context.cookies();
    assert.ok(
      cookies.some((c) => c.name.startsWith('authjs.session-token')),
      'Auth.js session cookie set',
    );
    for (const c of cookies) {
      assert.ok(!c.value.includes(signature), `cookie ${c.name} holds the minted token in clear`);
      if (c.name.startsWith('authjs.session-token')) assert.equal(c.httpOnly, true, `${c.name} must be HttpOnly`);
    }
  });

  it('provider token refreshed (Auth.js refresh pattern, forced through /dev/refresh) → GetJWT again: a new token for alice', async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.ok(alice && aliceFirstToken, 'needs the sign-in test');
    const res = await alice.context.request.post(`${app!.url}/dev/refresh`);
    assert.equal(res.status(), 200, await res.text());
    const refreshed = (await res.json()) as { refreshes: number; error: string | null };
    assert.deepEqual(refreshed.error, null);
    assert.equal(refreshed.refreshes, 1);

    await alice.page.reload();
    assert.equal(await alice.page.getByTestId('refreshes').innerText(), '1', 'the refreshed session was stored in the cookie');
    const claims = await pageClaims(alice.page);
    const token = await devToken(alice.context);
    assert.notEqual(token, aliceFirstToken);
    const { payload } = await svc!.verify(token);
    assert.deepEqual(payload, claims);
    assert.equal(payload.sub, `${PROVIDER_ID}:${aliceId}`);
    assert.notEqual(payload.jti, (await svc!.verify(aliceFirstToken)).payload.jti);
  });

  it("bob signs in (fresh context); bob's access token sent with alice's provider_account_id → UNAUTHENTICATED", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const bob = await signIn('bob', 'bob');
    assert.equal((await pageClaims(bob.page)).sub, `${PROVIDER_ID}:${bobId}`);
    seenTokens.push(await devToken(bob.context));

    const call = async (providerAccountId: string) => {
      const res = await bob.context.request.post(`${app!.url}/dev/get-jwt`, { data: { providerAccountId } });
      assert.equal(res.status(), 200, await res.text());
      return (await res.json()) as { code: string; details?: string; claims?: Record<string, unknown> };
    };
    // Control: the same route and token with bob's own id is accepted, so the refusal below is the binding.
    const own = await call(bobId);
    assert.equal(own.code, 'OK', own.details);
    assert.equal(own.claims?.sub, `${PROVIDER_ID}:${bobId}`);

    const stolen = await call(aliceId);
    assert.equal(stolen.code, status[status.UNAUTHENTICATED]);
    assert.match(stolen.details ?? '', /ACCOUNT_MISMATCH/);
    assert.equal(stolen.claims, undefined);
  });

  it("sign-out ends the Auth.js session and revokes the refresh token: alice's authjs-example session at Keycloak is gone", async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.ok(alice, 'needs the sign-in test');
    const exampleSessions = async () => {
      const res = await kc!.admin('GET', `/users/${aliceId}/sessions`);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      return (JSON.parse(text) as { clients: Record<string, string> }[]).filter((s) => Object.values(s.clients).includes(CLIENT.id)).length;
    };
    // Relative: a reused Keycloak (AUTHJWT_TEST_SHARED_KEYCLOAK) may hold sessions of earlier runs.
    const before = await exampleSessions();
    assert.ok(before >= 1, "alice's browser session with the example client");
    await alice.page.getByTestId('sign-out').click();
    await alice.page.getByTestId('sign-in').waitFor();
    assert.equal((await alice.context.request.get(`${app!.url}/dev/token`)).status(), 401);
    assert.equal(await exampleSessions(), before - 1, 'the example revoked its refresh token at sign-out');
  });

  it('without AUTHJWT_EXAMPLE_DEV_ROUTES=true the /dev routes do not exist (404)', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const plain = await startExample(exampleEnv());
    try {
      assert.equal((await fetch(`${plain.url}/dev/token`)).status, 404);
      assert.equal((await fetch(`${plain.url}/dev/refresh`, { method: 'POST' })).status, 404);
      const getJwt = await fetch(`${plain.url}/dev/get-jwt`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(getJwt.status, 404);
    } finally {
      await plain.stop();
    }
  });

  it('no token in the logs of the example or of authjwt', (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.ok(seenTokens.length >= 3, 'the tests above ran');
    const logs = `${app!.logs.join('')}\n${svc!.logs.join('')}`;
    for (const token of seenTokens) assert.ok(!logs.includes(token.split('.')[2]!), 'a minted token was logged');
  });
});
