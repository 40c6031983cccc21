/**
 * Fault suite: provider faults, circuit breaking, single-flight, JWKS refetch rate limit, load
 * shedding, key rotation and corruption under load, SIGTERM under load, and (issue 15) cancellation
 * isolation in single-flight, health Watch churn and oversize provider bodies under the image's V8 flags. Every test prints its
 * figures ("# fault …") for the record. Traffic goes to loopback only, bounded in count and time.
 */
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, generateKeyPair, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import type { AuthAPIClient } from '../../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto } from '../../src/grpc/proto.ts';
import { startAuthJwt, type CallResult, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { memoryFigures, startAuthJwtProcess } from '../helpers/authjwt-process.ts';
import { startFakeGitHub } from '../helpers/fake-github.ts';
import { paddedJson, startFakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { freePort } from '../helpers/net.ts';
import { INTROSPECTION_CLIENT, startOidcProvider, USERS } from '../helpers/oidc.ts';
import { privateKeyPem, writeSecretRevision } from '../helpers/secret-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const codeName = (c: number) => Object.entries(status).find(([, v]) => v === c)?.[0] ?? String(c);
const tally = (results: CallResult[]) => {
  const counts: Record<string, number> = {};
  for (const r of results) counts[codeName(r.code)] = (counts[codeName(r.code)] ?? 0) + 1;
  return counts;
};
const figures = (name: string, data: Record<string, unknown>) => console.log(`# fault ${name}: ${JSON.stringify(data)}`);
const ghAccount = { provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_seven' };

/** Runs `worker` from `concurrency` loops until `durationMs` passed or `maxCalls` were made. */
async function drive(
  concurrency: number,
  durationMs: number,
  maxCalls: number,
  worker: (i: number) => Promise<CallResult>,
): Promise<CallResult[]> {
  const results: CallResult[] = [];
  const end = Date.now() + durationMs;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end && n < maxCalls) results.push(await worker(n++));
    }),
  );
  return results;
}

describe('provider faults → UNAVAILABLE, never a wrong answer', () => {
  it('down, slow beyond the timeout, 500, garbage JSON (user API and introspection)', async () => {
    const gh = await startFakeGitHub();
    gh.issue('gho_seven', { id: 7, login: 'seven', name: null, email: null }, 'app');
    const op = await startOidcProvider();
    const token = await op.opaqueToken(USERS.alice!);
    const svc = await startAuthJwt({
      providers: [
        {
          id: 'github',
          type: 'oauth',
          preset: 'github',
          userinfoUrl: `${gh.url}/user`,
          timeout: '500ms',
          retries: 1,
          circuitBreaker: { enabled: false },
        },
        {
          id: 'op',
          type: 'oidc',
          issuer: op.issuer,
          verification: 'introspection',
          clientId: INTROSPECTION_CLIENT.id,
          clientSecret: INTROSPECTION_CLIENT.secret,
          timeout: '500ms',
          circuitBreaker: { enabled: false },
        },
      ],
    });
    const opAccount = { provider: 'op', type: 'oidc', providerAccountId: USERS.alice!.sub, accessToken: token };
    const perFault: Record<string, Record<string, number>> = {};
    try {
      assert.equal((await svc.getJwt(opAccount)).code, status.OK, 'discovery done while the provider is healthy');
      for (const mode of ['500', 'garbage', 'slow'] as const) {
        gh.mode = mode;
        const results = await Promise.all(Array.from({ length: 5 }, () => svc.getJwt(ghAccount)));
        perFault[`github-${mode}`] = tally(results);
        assert.ok(
          results.every((r) => r.code === status.UNAVAILABLE),
          `${mode}: ${JSON.stringify(tally(results))}`,
        );
      }
      gh.mode = 'ok';
      await gh.close();
      const down = await Promise.all(Array.from({ length: 5 }, () => svc.getJwt(ghAccount)));
      perFault['github-down'] = tally(down);
      assert.ok(down.every((r) => r.code === status.UNAVAILABLE));
      await op.close();
      const opDown = await Promise.all(Array.from({ length: 5 }, () => svc.getJwt(opAccount)));
      perFault['oidc-introspection-down'] = tally(opDown);
      assert.ok(opDown.every((r) => r.code === status.UNAVAILABLE));
      figures('provider-faults', perFault);
    } finally {
      await svc.stop();
      await gh.close();
      await op.close();
    }
  });

  it('JWKS with no usable key → UNAVAILABLE (the provider is broken, not the token)', async () => {
    // A misbehaving OIDC provider (test fake): valid discovery, JWKS holding only a symmetric key.
    const { privateKey } = await generateKeyPair('ES256');
    let server!: Server;
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    server = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            issuer,
            jwks_uri: `${issuer}/jwks`,
            id_token_signing_alg_values_supported: ['ES256'],
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            authorization_endpoint: `${issuer}/auth`,
          }),
        );
      } else if (req.url === '/jwks') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k1' }] }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const svc = await startAuthJwt({ providers: [{ id: 'broken', type: 'oidc', issuer, verification: 'jwt', jwksCooldown: '0s' }] });
    try {
      const token = await new SignJWT({ sub: 'u1' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      const results = await Promise.all(
        Array.from({ length: 5 }, () => svc.getJwt({ provider: 'broken', type: 'oidc', providerAccountId: 'u1', accessToken: token })),
      );
      figures('jwks-no-usable-key', tally(results));
      assert.ok(
        results.every((r) => r.code === status.UNAVAILABLE),
        JSON.stringify(results.map((r) => r.details)),
      );
    } finally {
      await svc.stop();
      server.close();
    }
  });

  it('circuit breaker: a failing provider is failed fast, then probed and closed again', async () => {
    const gh = await startFakeGitHub();
    gh.issue('gho_seven', { id: 7, login: 'seven', name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      providers: [
        {
          id: 'github',
          type: 'oauth',
          preset: 'github',
          userinfoUrl: `${gh.url}/user`,
          timeout: '1s',
          retries: 0,
          circuitBreaker: { minimumCalls: 5, errorRatio: 0.5, openFor: '500ms', window: '5s' },
        },
      ],
    });
    try {
      gh.mode = '500';
      // Distinct tokens: identical ones would share one provider call (single-flight).
      const distinct = (i: number) => ({ ...ghAccount, accessToken: `gho_distinct_${i}` });
      const failing = await Promise.all(Array.from({ length: 8 }, (_, i) => svc.getJwt(distinct(i))));
      const before = gh.requests.length;
      const t0 = performance.now();
      const open = await Promise.all(Array.from({ length: 20 }, (_, i) => svc.getJwt(distinct(100 + i))));
      const openMs = performance.now() - t0;
      const reachedProvider = gh.requests.length - before;
      assert.ok(open.every((r) => r.code === status.UNAVAILABLE));
      assert.ok(
        open.some((r) => /CIRCUIT_OPEN/.test(r.details ?? '')),
        'circuit opened',
      );
      assert.equal(reachedProvider, 0, 'no call reaches the provider while the circuit is open');
      gh.mode = 'ok';
      // Half-open after openFor (500 ms), then one successful probe closes the circuit.
      const recovered = await waitFor(
        async () => {
          const r = await svc.getJwt(ghAccount);
          return r.code === status.OK && r;
        },
        { what: 'the circuit to close again', interval: 100 },
      );
      figures('circuit-breaker', {
        failing: tally(failing),
        whileOpen: tally(open),
        openCallsMs: Math.round(openMs),
        providerCallsWhileOpen: reachedProvider,
        afterRecovery: codeName(recovered.code),
      });
    } finally {
      await svc.stop();
      await gh.close();
    }
  });
});

describe('sharing and rate limits', () => {
  it('single-flight: 50 concurrent identical verifications share one provider call', async () => {
    const gh = await startFakeGitHub();
    gh.issue('gho_seven', { id: 7, login: 'seven', name: null, email: null }, 'app');
    gh.delayMs = 200;
    const svc = await startAuthJwt({ providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }] });
    try {
      const results = await Promise.all(Array.from({ length: 50 }, () => svc.getJwt(ghAccount)));
      figures('single-flight', { calls: results.length, outcomes: tally(results), providerCalls: gh.requests.length });
      assert.ok(results.every((r) => r.code === status.OK));
      assert.equal(gh.requests.length, 1);
      // Remote results are not cached by default (cacheTtl 0): the next call asks again.
      await svc.getJwt(ghAccount);
      assert.equal(gh.requests.length, 2);
    } finally {
      await svc.stop();
      await gh.close();
    }
  });

  it('unknown kids cannot make authjwt hammer the provider JWKS (refetch cooldown)', async () => {
    const op = await startOidcProvider();
    let jwksFetches = 0;
    const svc = await startAuthJwt(
      { providers: [{ id: 'op', type: 'oidc', issuer: op.issuer, verification: 'jwt', jwksCooldown: '1s' }] },
      { observer: { onProviderCall: (e) => void (e.endpoint === 'jwks' && jwksFetches++) } },
    );
    try {
      assert.equal(
        (
          await svc.getJwt({
            provider: 'op',
            type: 'oidc',
            providerAccountId: USERS.alice!.sub,
            accessToken: await op.jwtToken(USERS.alice!),
          })
        ).code,
        status.OK,
      );
      const signer = await generateKeyPair('ES256');
      const started = Date.now();
      const forged = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          new SignJWT({ sub: 'x' })
            .setProtectedHeader({ alg: 'ES256', kid: `unknown-${i}` })
            .setIssuer(op.issuer)
            .setIssuedAt()
            .setExpirationTime('5m')
            .sign(signer.privateKey),
        ),
      );
      const results: CallResult[] = [];
      for (const t of forged) results.push(await svc.getJwt({ provider: 'op', type: 'oidc', providerAccountId: 'x', accessToken: t }));
      const elapsedS = (Date.now() - started) / 1000;
      figures('jwks-refetch-rate-limit', { forgedTokens: forged.length, outcomes: tally(results), jwksFetches, elapsedS });
      assert.ok(results.every((r) => r.code === status.UNAUTHENTICATED));
      assert.ok(jwksFetches <= 2 + Math.ceil(elapsedS), `JWKS fetched ${jwksFetches} times in ${elapsedS}s`);
    } finally {
      await svc.stop();
      await op.close();
    }
  });

  it('load shedding: over maxConcurrentCalls, calls fail fast with RESOURCE_EXHAUSTED instead of queueing', async () => {
    const gh = await startFakeGitHub();
    gh.delayMs = 500;
    for (let i = 0; i < 40; i++) gh.issue(`gho_${i}`, { id: i, login: `u${i}`, name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      grpc: { maxConcurrentCalls: 4 },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }],
    });
    try {
      const timed = async (i: number) => {
        const t = performance.now();
        const r = await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: String(i), accessToken: `gho_${i}` });
        return { ...r, ms: performance.now() - t };
      };
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => timed(i)));
      const shed = results.filter((r) => r.code === status.RESOURCE_EXHAUSTED);
      const ok = results.filter((r) => r.code === status.OK);
      figures('load-shedding', {
        calls: 40,
        limit: 4,
        outcomes: tally(results),
        shedMaxMs: Math.round(Math.max(...shed.map((r) => r.ms))),
      });
      assert.equal(ok.length + shed.length, 40);
      assert.ok(ok.length >= 4 && shed.length >= 30, JSON.stringify(tally(results)));
      assert.ok(Math.max(...shed.map((r) => r.ms)) < 400, 'shed calls do not wait for the slow ones');
      // Shed by admission before the handler: still requests of the getjwt door (they count against its SLO).
      const metrics = await (await fetch(`${svc.httpUrl}/metrics`)).text();
      const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(metrics)?.[1]);
      assert.equal(value('authjwt_requests_refused_total{door="getjwt",reason="overloaded"}'), shed.length);
      assert.equal(
        value('authjwt_exchange_duration_seconds_count{door="getjwt",provider="_unknown",outcome="resource_exhausted"}'),
        shed.length,
      );
      assert.equal(value('authjwt_getjwt_requests_total{provider="_unknown",outcome="resource_exhausted"}'), shed.length);
    } finally {
      await svc.stop();
      await gh.close();
    }
  });
});

describe('keys under load', () => {
  it('Secret rotated under load: zero failed calls; every minted token verifies against the JWKS fetched right after', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-rot-'));
    const gh = await startFakeGitHub();
    gh.issue('gho_seven', { id: 7, login: 'seven', name: null, email: null }, 'app');
    const keyA = privateKeyPem();
    const keyB = privateKeyPem();
    writeSecretRevision(dir, { 'a.pem': keyA }, 1);
    const svc: RunningAuthJwt = await startAuthJwt({
      keys: { dir, reloadInterval: '100ms', publishLeadTime: '300ms' },
      cache: { maxEntries: 100 },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user`, cacheTtl: '1m' }],
    });
    try {
      const rotation = (async () => {
        await sleep(500);
        writeSecretRevision(dir, { 'a.pem': keyA, 'b.pem': keyB }, 2); // add B
        await sleep(1_000);
        writeSecretRevision(dir, { 'b.pem': keyB }, 3); // retire A
      })();
      const results = await drive(8, 2_500, 20_000, () => svc.getJwt(ghAccount));
      await rotation;
      const jwks = (await (await fetch(`${svc.httpUrl}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
      const keyset = createLocalJWKSet(jwks);
      let verified = 0;
      const kids = new Set<string>();
      for (const r of results) {
        if (!r.token) continue;
        const { protectedHeader } = await jwtVerify(r.token, keyset, { issuer: svc.config.issuer });
        kids.add(protectedHeader.kid!);
        verified++;
      }
      figures('key-rotation-under-load', {
        calls: results.length,
        outcomes: tally(results),
        verifiedAgainstJwksAfter: verified,
        signingKids: kids.size,
        publishedAfter: jwks.keys.length,
      });
      assert.ok(
        results.every((r) => r.code === status.OK),
        JSON.stringify(tally(results)),
      );
      assert.equal(verified, results.length);
      assert.equal(kids.size, 2, 'both keys signed during the run');
    } finally {
      await svc.stop();
      await gh.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a corrupt key file written mid-load: keeps serving with the last good keyring', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-corrupt-'));
    const gh = await startFakeGitHub();
    gh.issue('gho_seven', { id: 7, login: 'seven', name: null, email: null }, 'app');
    writeSecretRevision(dir, { 'a.pem': privateKeyPem() }, 1);
    const svc = await startAuthJwt({
      keys: { dir, reloadInterval: '100ms' },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user`, cacheTtl: '1m' }],
    });
    try {
      const corrupt = (async () => {
        await sleep(300);
        writeFileSync(join(dir, 'half-written.pem'), '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n'); // truncated
      })();
      const results = await drive(8, 1_500, 20_000, () => svc.getJwt(ghAccount));
      await corrupt;
      const status_ = svc.app.keys.store.status();
      figures('corrupt-key-under-load', { calls: results.length, outcomes: tally(results), reloadError: Boolean(status_.lastReloadError) });
      assert.ok(results.every((r) => r.code === status.OK));
      assert.ok(status_.lastReloadError, 'the bad file was seen and reported');
    } finally {
      await svc.stop();
      await gh.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('graceful drain', () => {
  it('SIGTERM under load: in-flight calls complete, new calls are refused, exit 0, no hang', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const gh = await startFakeGitHub();
    gh.delayMs = 400; // keeps calls in flight when the signal arrives
    for (let i = 0; i < 30; i++) gh.issue(`gho_${i}`, { id: i, login: `u${i}`, name: null, email: null }, 'app');
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-drain-'));
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    writeFileSync(
      join(dir, 'config.yaml'),
      `issuer: http://127.0.0.1:${httpPort}\naudience: [internal-services]\nshutdownGrace: 10s\ngrpc: { listen: "127.0.0.1:${grpcPort}" }\nhttp: { listen: "127.0.0.1:${httpPort}" }\nkeys: { ephemeral: true }\nproviders:\n  - { id: github, type: oauth, preset: github, userinfoUrl: "${gh.url}/user" }\n`,
    );
    const child = spawn(process.execPath, ['src/main.ts', '--config', join(dir, 'config.yaml')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout.on('data', (c) => (logs += c));
    child.stderr.on('data', (c) => (logs += c));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const client = new (loadAuthProto().auth.v1alpha1.AuthAPI)(`127.0.0.1:${grpcPort}`, credentials.createInsecure()) as AuthAPIClient;
    const call = (i: number) =>
      new Promise<CallResult & { sentAt: number }>((resolve) => {
        const sentAt = Date.now();
        client.GetJWT(
          { account: { provider: 'github', type: 'oauth', providerAccountId: String(i), accessToken: `gho_${i}` } },
          new Metadata(),
          { deadline: Date.now() + 8_000 },
          (e: ServiceError | null, r) =>
            resolve(e ? { code: e.code, details: e.details, sentAt } : { code: status.OK, token: r!.token, sentAt }),
        );
      });
    try {
      await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 15_000, (e) => (e ? reject(e) : resolve())));
      const inFlight = Array.from({ length: 20 }, (_, i) => call(i));
      await waitFor(() => gh.requests.length >= 20, { what: 'all 20 in-flight calls to reach the provider' });
      const signalAt = Date.now();
      child.kill('SIGTERM');
      await waitFor(() => /shutting down: health NOT_SERVING/.test(logs), { what: 'authjwt to stop accepting calls' });
      const late = await Promise.all(Array.from({ length: 10 }, (_, i) => call(20 + i)));
      const inFlightResults = await Promise.all(inFlight);
      const code = await Promise.race([exited, sleep(12_000, 'hang' as const, { ref: false })]);
      figures('sigterm-under-load', {
        inFlight: inFlightResults.length,
        inFlightOutcomes: tally(inFlightResults),
        afterSignal: tally(late),
        exitCode: code,
        exitAfterMs: Date.now() - signalAt,
      });
      assert.ok(
        inFlightResults.every((r) => r.code === status.OK),
        `in-flight: ${JSON.stringify(tally(inFlightResults))}`,
      );
      assert.ok(
        late.every((r) => r.code === status.UNAVAILABLE),
        `after SIGTERM: ${JSON.stringify(tally(late))}`,
      );
      assert.equal(code, 0, logs.slice(-2000));
      assert.match(logs, /shutting down: health NOT_SERVING/);
    } finally {
      client.close();
      if (child.exitCode === null) child.kill('SIGKILL');
      await gh.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('issue 15 classes: cancellation isolation, oversize provider bodies (Watch churn: security-regressions #15.1)', () => {
  it('single-flight cancellation isolation: waiters that give up abort only themselves; the others get OK from the one shared provider call', async () => {
    const gh = await startFakeGitHub();
    for (const t of ['gho_flight', 'gho_warm']) gh.issue(t, { id: 7, login: 'seven', name: null, email: null }, 'app');
    const fake = await startFakeOidcIssuer();
    const [opaque, warmOpaque] = [fake.opaque(), fake.opaque()];
    for (const t of [opaque, warmOpaque])
      fake.introspection.set(t, {
        active: true,
        iss: fake.issuer,
        sub: 'u1',
        client_id: 'frontend',
        exp: Math.floor(Date.now() / 1000) + 300,
      });
    const svc = await startAuthJwt({
      providers: [
        { id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` },
        {
          id: 'intro',
          type: 'oidc',
          issuer: fake.issuer,
          verification: 'introspection',
          audiences: ['frontend'],
          clientId: fake.client.id,
          clientSecret: fake.client.secret,
        },
      ],
    });
    const perProvider: Record<string, unknown> = {};
    const failures: string[] = [];
    try {
      // Discovery, connections and JIT first: the timing-relevant part starts warm.
      assert.equal((await svc.getJwt({ ...ghAccount, accessToken: 'gho_warm' })).code, status.OK);
      assert.equal(
        (await svc.getJwt({ provider: 'intro', type: 'oidc', providerAccountId: 'u1', accessToken: warmOpaque })).code,
        status.OK,
      );
      gh.delayMs = 1_000;
      fake.latency = { introspection: 1_000 };
      const flights: [string, Parameters<RunningAuthJwt['getJwt']>[0], () => number][] = [
        ['github user API', { ...ghAccount, accessToken: 'gho_flight' }, () => gh.requests.length],
        [
          'introspection',
          { provider: 'intro', type: 'oidc', providerAccountId: 'u1', accessToken: opaque },
          () => fake.count('introspection'),
        ],
      ];
      for (const [name, account, providerCalls] of flights) {
        const before = providerCalls();
        // The first caller starts the shared verification and leaves first.
        let firstSettled = false;
        const first = svc.getJwt(account, { deadlineMs: 200 }).finally(() => (firstSettled = true));
        await waitFor(() => providerCalls() !== before || firstSettled, { what: `${name}: the first caller's provider call`, interval: 5 });
        const leavers = Array.from({ length: 9 }, (_, i) => svc.getJwt(account, { deadlineMs: 300 + 30 * i }));
        const started = performance.now();
        const stayers = Array.from({ length: 10 }, () =>
          svc.getJwt(account, { deadlineMs: 8_000 }).then((r) => ({ ...r, ms: performance.now() - started })),
        );
        const [firstResult, leaverResults, stayerResults] = await Promise.all([first, Promise.all(leavers), Promise.all(stayers)]);
        const calls = providerCalls() - before;
        perProvider[name] = {
          first: codeName(firstResult.code),
          leavers: tally(leaverResults),
          stayers: tally(stayerResults),
          stayersMaxMs: Math.round(Math.max(...stayerResults.map((r) => r.ms))),
          providerCalls: calls,
        };
        if (!stayerResults.every((r) => r.code === status.OK)) failures.push(`${name}: stayers ${JSON.stringify(tally(stayerResults))}`);
        if (![firstResult, ...leaverResults].every((r) => r.code === status.DEADLINE_EXCEEDED))
          failures.push(`${name}: leavers ${JSON.stringify(tally([firstResult, ...leaverResults]))}`);
        if (calls !== 1) failures.push(`${name}: ${calls} provider calls for one token`);
      }
      figures('single-flight-cancellation', perProvider);
      assert.deepEqual(failures, []);
    } finally {
      await svc.stop();
      await gh.close();
      await fake.close();
    }
  });

  it('oversize provider bodies: a 64 MiB introspection answer and 8 MiB userinfo / JWKS / discovery answers are UNAVAILABLE and are not buffered (image V8 flags)', {
    timeout: 120_000,
  }, async () => {
    const MIB = 1024 * 1024;
    const now = Math.floor(Date.now() / 1000);
    const main = await startFakeOidcIssuer(); // introspection + userinfo
    const bigJwks = await startFakeOidcIssuer();
    const bigDiscovery = await startFakeOidcIssuer();
    const json = { 'content-type': 'application/json' };
    let introspectionBytes = 0;
    main.script('introspection', (req) => {
      if (req.token === 'small') return { json: { active: true, iss: main.issuer, sub: 'u1', client_id: 'frontend', exp: now + 600 } };
      introspectionBytes = 64 * MIB;
      return {
        raw: paddedJson({ active: true, iss: main.issuer, sub: 'u1', client_id: 'frontend', exp: now + 600 }, 64 * MIB),
        headers: json,
        chunked: true,
      };
    });
    main.script('userinfo', () => ({ raw: paddedJson({ sub: 'u1' }, 8 * MIB), headers: json }));
    bigJwks.script('jwks', () => ({ raw: paddedJson({ keys: [bigJwks.publicJwk] }, 8 * MIB), headers: json, chunked: true }));
    const doc = {
      issuer: bigDiscovery.issuer,
      jwks_uri: `${bigDiscovery.issuer}/jwks`,
      authorization_endpoint: `${bigDiscovery.issuer}/auth`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    };
    bigDiscovery.script('discovery', () => ({ raw: paddedJson(doc, 8 * MIB), headers: json }));
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const provider = (id: string, issuer: string, verification: string, extra: Record<string, unknown> = {}) => ({
      id,
      type: 'oidc',
      issuer,
      verification,
      audiences: ['frontend'],
      ...extra,
    });
    const config = {
      issuer: `http://127.0.0.1:${httpPort}`,
      audience: ['internal-services'],
      keys: { ephemeral: true },
      grpc: { listen: `127.0.0.1:${grpcPort}` },
      http: { listen: `127.0.0.1:${httpPort}` },
      providers: [
        provider('intro', main.issuer, 'introspection', { clientId: main.client.id, clientSecret: main.client.secret }),
        provider('ui', main.issuer, 'userinfo'),
        provider('jwks-big', bigJwks.issuer, 'jwt'),
        provider('discovery-big', bigDiscovery.issuer, 'jwt'),
      ],
    };
    const proc = startAuthJwtProcess(JSON.stringify(config), { imageHeap: true, gcHook: true }); // JSON is YAML
    const client = new (loadAuthProto().auth.v1alpha1.AuthAPI)(`127.0.0.1:${grpcPort}`, credentials.createInsecure()) as AuthAPIClient;
    const call = (provider: string, accessToken: string, providerAccountId = 'u1') =>
      new Promise<CallResult>((resolve) =>
        client.GetJWT(
          { account: { provider, type: 'oidc', providerAccountId, accessToken } },
          new Metadata(),
          { deadline: Date.now() + 20_000 },
          (e: ServiceError | null, r) => resolve(e ? { code: e.code, details: e.details } : { code: status.OK, token: r!.token }),
        ),
      );
    const httpUrl = `http://127.0.0.1:${httpPort}`;
    try {
      await proc.waitFor(/authjwt started/);
      assert.equal((await call('intro', 'small')).code, status.OK, 'warm-up');
      await proc.gc();
      const before = await memoryFigures(httpUrl);
      const results: Record<string, string> = {};
      results['introspection 64 MiB chunked'] = codeName((await call('intro', 'huge')).code);
      const rssAfterIntrospection = proc.alive() ? (await memoryFigures(httpUrl)).rssMb : Number.NaN;
      const jwtShaped = await main.sign({ iss: main.issuer, sub: 'u1', azp: 'frontend', exp: now + 600 });
      if (proc.alive()) results['userinfo 8 MiB'] = codeName((await call('ui', jwtShaped)).code);
      if (proc.alive())
        results['jwks 8 MiB chunked'] = codeName(
          (await call('jwks-big', await bigJwks.sign({ iss: bigJwks.issuer, sub: 'u1', azp: 'frontend', exp: now + 600 }))).code,
        );
      if (proc.alive())
        results['discovery 8 MiB'] = codeName(
          (await call('discovery-big', await bigDiscovery.sign({ iss: bigDiscovery.issuer, sub: 'u1', azp: 'frontend', exp: now + 600 })))
            .code,
        );
      const alive = proc.alive();
      let after = { heapUsedMb: Number.NaN, rssMb: Number.NaN };
      if (alive) {
        await proc.gc();
        after = await memoryFigures(httpUrl);
      }
      figures('oversize-provider-bodies', {
        results,
        introspectionAnswerMiB: introspectionBytes / MIB,
        rssMb: {
          before: Math.round(before.rssMb),
          afterIntrospection: Math.round(rssAfterIntrospection),
          afterAll: Math.round(after.rssMb),
        },
        heapUsedMb: [before.heapUsedMb, after.heapUsedMb].map((v) => Math.round(v * 10) / 10),
        alive,
      });
      assert.ok(alive, `authjwt died: ${proc.fatalLines(2)}`);
      assert.deepEqual(results, {
        'introspection 64 MiB chunked': 'UNAVAILABLE',
        'userinfo 8 MiB': 'UNAVAILABLE',
        'jwks 8 MiB chunked': 'UNAVAILABLE',
        'discovery 8 MiB': 'UNAVAILABLE',
      });
      assert.ok(
        rssAfterIntrospection - before.rssMb < 48,
        `RSS grew ${(rssAfterIntrospection - before.rssMb).toFixed(0)} MiB on a 64 MiB answer: the body was buffered`,
      );
    } finally {
      client.close();
      await proc.stop();
      await main.close();
      await bigJwks.close();
      await bigDiscovery.close();
    }
  });
});
