/**
 * Health (gRPC grpc.health.v1 Check/Watch, HTTP probes), metric-label safety, the server-side default
 * deadline, and the start-up contract (invalid config exits non-zero naming the field).
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { startAuthJwt } from '../helpers/authjwt.ts';
import { startFakeGitHub } from '../helpers/fake-github.ts';
import { waitFor } from '../helpers/wait-for.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const healthProto = loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true })) as any;
const healthClient = (port: number) => new healthProto.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure());
const check = (client: any, service: string) =>
  new Promise<string>((resolve, reject) =>
    client.Check({ service }, (e: ServiceError | null, r: { status: string }) => (e ? reject(e) : resolve(r.status))),
  );

describe('health', () => {
  it('Check is SERVING for "" and auth.v1alpha1.AuthAPI; Watch sees NOT_SERVING before the listeners close on stop', async () => {
    const svc = await startAuthJwt({ providers: [{ id: 'github', type: 'oauth', preset: 'github' }] });
    const client = healthClient(svc.app.grpcPort);
    try {
      assert.equal(await check(client, ''), 'SERVING');
      assert.equal(await check(client, 'auth.v1alpha1.AuthAPI'), 'SERVING');
      await assert.rejects(check(client, 'no.such.Service'), (e: ServiceError) => e.code === status.NOT_FOUND);
      assert.equal((await fetch(`${svc.httpUrl}/livez`)).status, 200);
      assert.equal((await fetch(`${svc.httpUrl}/readyz`)).status, 200);

      const seen: string[] = [];
      const watch = client.Watch({ service: 'auth.v1alpha1.AuthAPI' });
      watch.on('data', (r: { status: string }) => seen.push(r.status));
      watch.on('error', () => {});
      await waitFor(() => seen.length > 0, { what: 'the first Watch answer (SERVING)' });
      await svc.stop();
      assert.deepEqual(seen.slice(0, 2), ['SERVING', 'NOT_SERVING'], 'NOT_SERVING was streamed while the server was still up');
    } finally {
      client.close();
    }
  });

  it('provider reachability does not affect readiness; it is reported per provider', async () => {
    const svc = await startAuthJwt({
      providers: [{ id: 'down', type: 'oauth', userinfoUrl: 'http://127.0.0.1:9/user', accountIdField: 'id', timeout: '200ms' }],
    });
    try {
      assert.equal(
        (await svc.getJwt({ provider: 'down', type: 'oauth', providerAccountId: '1', accessToken: 'x' })).code,
        status.UNAVAILABLE,
      );
      const ready = await fetch(`${svc.httpUrl}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { providers: Record<string, string> }).providers.down, 'unreachable');
      assert.match(await (await fetch(`${svc.httpUrl}/metrics`)).text(), /authjwt_provider_up\{provider="down"\} 0/);
    } finally {
      await svc.stop();
    }
  });

  it('regression (issue 20): a user-API provider is `unknown` until its first call, not "reachable" (a pod without egress showed GitHub reachable)', async () => {
    const gh = await startFakeGitHub();
    gh.issue('gho_alice', { id: 7, login: 'alice', name: null, email: null }, 'app');
    const svc = await startAuthJwt({ providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }] });
    const state = async () => ({
      readyz: ((await (await fetch(`${svc.httpUrl}/readyz`)).json()) as { providers: Record<string, string> }).providers.github,
      up: /authjwt_provider_up\{provider="github"\} (\d)/.exec(await (await fetch(`${svc.httpUrl}/metrics`)).text())?.[1],
    });
    try {
      assert.deepEqual(await state(), { readyz: 'unknown', up: '0' }, 'no call yet: nothing is known');
      assert.equal(
        (await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_alice' })).code,
        status.OK,
      );
      assert.deepEqual(await state(), { readyz: 'reachable', up: '1' });
      // A token the provider refuses (401) is still an answer: the provider is reachable.
      assert.equal(
        (await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_unknown' })).code,
        status.UNAUTHENTICATED,
      );
      assert.deepEqual(await state(), { readyz: 'reachable', up: '1' });
      await gh.close();
      assert.equal(
        (await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_other' })).code,
        status.UNAVAILABLE,
      );
      assert.deepEqual(await state(), { readyz: 'unreachable', up: '0' });
    } finally {
      await svc.stop();
      await gh.close();
    }
  });
});

describe('metrics', () => {
  it('an attacker-chosen provider name never creates a series', async () => {
    const svc = await startAuthJwt({ providers: [{ id: 'github', type: 'oauth', preset: 'github' }] });
    try {
      const names = ['evil-provider-1', 'x'.repeat(60), '__proto__', 'toString', 'github\u0000'];
      for (const provider of names)
        assert.equal(
          (await svc.getJwt({ provider, type: 'oauth', providerAccountId: '1', accessToken: 'tok' })).code,
          status.INVALID_ARGUMENT,
        );
      const text = await (await fetch(`${svc.httpUrl}/metrics`)).text();
      for (const n of names) assert.ok(!text.includes(`provider="${n}"`), `series for ${JSON.stringify(n)}`);
      assert.match(text, /authjwt_getjwt_requests_total\{provider="_unknown",outcome="invalid_argument"\} 5/);
      assert.match(
        text,
        /grpc_server_handled_total\{grpc_type="unary",grpc_service="auth.v1alpha1.AuthAPI",grpc_method="GetJWT",grpc_code="INVALID_ARGUMENT"\} 5/,
      );
      const providerLabels = new Set([...text.matchAll(/provider="([^"]*)"/g)].map((m) => m[1]));
      assert.deepEqual([...providerLabels].sort(), ['_unknown', 'github']);
    } finally {
      await svc.stop();
    }
  });
});

describe('deadlines', () => {
  it('a call without a client deadline is bounded by grpc.defaultDeadline (DEADLINE_EXCEEDED, never a hang)', async () => {
    const gh = await startFakeGitHub();
    gh.delayMs = 2_000;
    gh.issue('gho_slow', { id: 1, login: 'slow', name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      grpc: { defaultDeadline: '300ms' },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user`, timeout: '5s' }],
    });
    try {
      const started = Date.now();
      const res = await new Promise<{ code: number }>((resolve) =>
        svc.client.GetJWT(
          { account: { provider: 'github', type: 'oauth', providerAccountId: '1', accessToken: 'gho_slow' } },
          new Metadata(),
          (e: ServiceError | null) => resolve({ code: e ? e.code : 0 }),
        ),
      );
      assert.equal(res.code, status.DEADLINE_EXCEEDED);
      assert.ok(Date.now() - started < 1_500, 'answered at the default deadline, not after the provider');
    } finally {
      await svc.stop();
      await gh.close();
    }
  });

  // Admission sets its own timer only when the client's deadline is later than the default (issue 24):
  // both sides of that choice still end the call in time.
  for (const [name, clientDeadlineMs, defaultDeadline] of [
    ['a client deadline LATER than grpc.defaultDeadline is cut to the default', 10_000, '300ms'],
    ['a client deadline SHORTER than grpc.defaultDeadline ends the call at the client deadline (no admission timer)', 300, '10s'],
  ] as const) {
    it(name, async () => {
      const gh = await startFakeGitHub();
      gh.delayMs = 2_000;
      gh.issue('gho_slow', { id: 1, login: 'slow', name: null, email: null }, 'app');
      const svc = await startAuthJwt({
        grpc: { defaultDeadline },
        providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user`, timeout: '5s' }],
      });
      try {
        const started = Date.now();
        const code = await new Promise<number>((resolve) =>
          svc.client.GetJWT(
            { account: { provider: 'github', type: 'oauth', providerAccountId: '1', accessToken: 'gho_slow' } },
            new Metadata(),
            { deadline: Date.now() + clientDeadlineMs },
            (e: ServiceError | null) => resolve(e ? e.code : 0),
          ),
        );
        assert.equal(code, status.DEADLINE_EXCEEDED);
        assert.ok(Date.now() - started < 1_500, `answered after ${Date.now() - started} ms, not after the provider's 2 s`);
      } finally {
        await svc.stop();
        await gh.close();
      }
    });
  }
});

describe('start-up', () => {
  it('an invalid config exits with code 2 and a message naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-badcfg-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        'issuer: https://a.example\naudience: [x]\ntokenTtl: 15 minutes\nkeys: { ephemeral: true }\nproviders:\n  - { id: kc, type: oidc, issuer: "http://sso.example/realms/x" }\n',
      );
      const r = spawnSync(process.execPath, ['src/main.ts', '--config', file], { cwd: root, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /tokenTtl: is not a duration/);
      writeFileSync(
        file,
        'issuer: https://a.example\naudience: [x]\nkeys: { ephemeral: true }\nproviders:\n  - { id: kc, type: oidc, issuer: "http://sso.example/realms/x" }\n',
      );
      const insecure = spawnSync(process.execPath, ['src/main.ts', '--config', file], { cwd: root, encoding: 'utf8', timeout: 20_000 });
      assert.equal(insecure.status, 2, insecure.stderr);
      assert.match(insecure.stderr, /providers\[0\]\.issuer: must be https/);
      const missing = spawnSync(process.execPath, ['src/main.ts'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, AUTHJWT_CONFIG: join(dir, 'nope.yaml') },
      });
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /cannot read config file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
