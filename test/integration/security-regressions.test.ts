/**
 * Regression tests for issue 15 (black-box attack findings), one or more per item, each named after
 * its bug ("regression #15.N: …"). They go through public surfaces only: real gRPC calls to an
 * authjwt started in-process (test/helpers/authjwt.ts) or as a child process under the image's V8
 * flags (test/helpers/authjwt-process.ts), the HTTP endpoints, and the config loader. Providers are
 * real where their answers are ordinary (the fake GitHub) and a scripted fake OIDC issuer
 * (test/helpers/fake-oidc-issuer.ts) where a test needs an exact answer: an introspection answer
 * marked `typ: Refresh`, a 401 with `WWW-Authenticate: Basic`, an 8 MiB body, a JWKS endpoint that
 * goes down, a 3 s answer whose request must be aborted. Loopback only; every test is bounded in time.
 *
 * Item 8's loader-level tests are in test/unit/config/config-secrets.test.ts.
 */
import { Metadata, status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompactSign, generateKeyPair } from 'jose';
import { buildConfig } from '../../src/config/load.ts';
import { startAuthJwt, type Account, type CallResult, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { memoryFigures, startAuthJwtProcess } from '../helpers/authjwt-process.ts';
import { startFakeGitHub } from '../helpers/fake-github.ts';
import { churnWatch, check, healthClient, watchFirst } from '../helpers/health-client.ts';
import { paddedJson, startFakeOidcIssuer, type FakeAnswer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { freePort } from '../helpers/net.ts';
import { privateKeyPem, writeSecretRevision } from '../helpers/secret-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const codeName = (c: number) => status[c] ?? String(c);
const nowS = () => Math.floor(Date.now() / 1000);
const SUB = 'user-7f3a';
const AUDIENCE = 'frontend';

/** Parsed JSON log lines of a running authjwt from index `from`. */
const logLines = (svc: RunningAuthJwt, from = 0) =>
  svc.logs
    .slice(from)
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The four OIDC strategies against one fake issuer; every provider accepts only client `frontend`. */
function oidcProviders(fake: FakeOidcIssuer, extra: Record<string, unknown> = {}) {
  const creds = { clientId: fake.client.id, clientSecret: fake.client.secret };
  return [
    { id: 'intro', type: 'oidc', issuer: fake.issuer, verification: 'introspection', audiences: [AUDIENCE], ...creds, ...extra },
    { id: 'auto', type: 'oidc', issuer: fake.issuer, verification: 'auto', audiences: [AUDIENCE], ...creds, ...extra },
    { id: 'ui', type: 'oidc', issuer: fake.issuer, verification: 'userinfo', audiences: [AUDIENCE], ...extra },
    { id: 'jwt', type: 'oidc', issuer: fake.issuer, verification: 'jwt', audiences: [AUDIENCE], ...extra },
  ];
}

const account = (provider: string, accessToken: string, providerAccountId = SUB): Account => ({
  provider,
  type: 'oidc',
  providerAccountId,
  accessToken,
});

// ---------------------------------------------------------------------------------------------
describe('#15.1 health Watch: no state for unknown names, streams count against admission', () => {
  it('regression #15.1: health Check for an unknown name is NOT_FOUND; Watch answers SERVICE_UNKNOWN for it and SERVING for "" and auth.v1alpha1.AuthAPI', async () => {
    const svc = await startAuthJwt({
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: 'http://127.0.0.1:9/user' }],
    });
    const client = healthClient(svc.app.grpcPort);
    try {
      const watched = {
        check: await check(client, 'no.such.Service'),
        unknown: (await watchFirst(client, 'no.such.Service')).first,
        empty: (await watchFirst(client, '')).first,
        authApi: (await watchFirst(client, 'auth.v1alpha1.AuthAPI')).first,
      };
      assert.deepEqual(watched, { check: 'NOT_FOUND', unknown: 'SERVICE_UNKNOWN', empty: 'SERVING', authApi: 'SERVING' });
    } finally {
      client.close();
      await svc.stop();
    }
  });

  it('regression #15.1: unique-name health Watch calls retain no state (heap flat after 20,000, under the image V8 flags) and the process survives', {
    timeout: 120_000,
  }, async () => {
    // The attack: Watch with a new (long) name, cancel, repeat. grpc-health-check 2.1.0 keeps one map
    // entry per name forever; with 4 KiB names the image's 96 MB heap dies before 20,000.
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const proc = startAuthJwtProcess(
      `issuer: http://127.0.0.1:${httpPort}\naudience: [internal-services]\nkeys: { ephemeral: true }\n` +
        `grpc: { listen: "127.0.0.1:${grpcPort}", maxWatchStreams: 1000 }\nhttp: { listen: "127.0.0.1:${httpPort}" }\n` +
        `providers:\n  - { id: github, type: oauth, preset: github, userinfoUrl: "http://127.0.0.1:9/user" }\n`,
      { imageHeap: true, gcHook: true },
    );
    const client = healthClient(grpcPort);
    const memory = async () => {
      await proc.gc();
      return memoryFigures(`http://127.0.0.1:${httpPort}`);
    };
    // Bounded in time: a process thrashing near its heap limit fails the test instead of stalling it.
    // (Some calls fail with INTERNAL "Session closed with error code 2": nghttp2's rapid-reset guard
    // closing a connection that cancels streams this fast. The channel reconnects; they are retried.)
    const churn = (n: number, name: (i: number) => string) => {
      const started = Date.now();
      return churnWatch(client, n, name, { keepGoing: () => proc.alive() && Date.now() - started < 80_000 });
    };
    try {
      await proc.waitFor(/authjwt started/);
      await churn(1_000, () => ''); // warm-up: connections, JIT, grpc structures
      const { heapUsedMb: before, rssMb: rssBefore } = await memory();
      const started = Date.now();
      const tally = await churn(20_000, (i) => `attacker.Service${i}.`.padEnd(4096, 'x'));
      const seconds = (Date.now() - started) / 1000;
      const alive = proc.alive();
      const { heapUsedMb: afterMb, rssMb: rssAfter } = alive ? await memory() : { heapUsedMb: Number.NaN, rssMb: Number.NaN };
      console.log(
        `# regression #15.1: 20,000 unique 4 KiB-name Watch calls in ${seconds.toFixed(1)} s: ${JSON.stringify(tally)}; heapUsed ${before.toFixed(1)} → ${afterMb.toFixed(1)} MB, RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB after forced GC; alive=${alive}`,
      );
      assert.ok(
        alive,
        `authjwt died during the Watch churn (exit ${await Promise.race([proc.exited, sleep(2_000, '?', { ref: false })])}): ${proc.fatalLines(3)}`,
      );
      assert.ok(!tally.SERVING, 'an unknown name must never read SERVING');
      assert.ok(
        afterMb - before < 8,
        `heap grew ${(afterMb - before).toFixed(1)} MB after ${tally.SERVICE_UNKNOWN ?? 0} unique-name Watch calls (must stay flat)`,
      );
      assert.ok(rssAfter < 256, `RSS ${rssAfter.toFixed(0)} MiB reaches the chart's 256 Mi limit`);
      assert.ok(
        (tally.SERVICE_UNKNOWN ?? 0) >= 20_000,
        `20,000 unknown names answered SERVICE_UNKNOWN within the time bound: ${JSON.stringify(tally)}`,
      );
      assert.equal((await watchFirst(client, '')).first, 'SERVING', 'still serving health afterwards');
    } finally {
      client.close();
      await proc.stop();
    }
  });

  it('regression #15.1: open health Watch streams count against admission (grpc.maxWatchStreams, beyond it → RESOURCE_EXHAUSTED) and cannot starve GetJWT', async () => {
    const gh = await startFakeGitHub();
    gh.issue('gho_ok', { id: 7, login: 'seven', name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      grpc: { maxConcurrentCalls: 4, maxWatchStreams: 4 },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }],
    });
    const client = healthClient(svc.app.grpcPort);
    const open: any[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const w = await watchFirst(client, i % 2 ? '' : 'auth.v1alpha1.AuthAPI', false);
        assert.equal(w.first, 'SERVING');
        open.push(w.call);
      }
      const fifth = await watchFirst(client, '');
      // Watch streams have a pool of their own: unauthenticated watchers cannot take GetJWT's slots.
      const getJwt = await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_ok' });
      const check = await new Promise<string>((resolve) =>
        client.Check({ service: '' }, (e: { code: number } | null, r: { status: string }) => resolve(e ? codeName(e.code) : r.status)),
      );
      open.shift().cancel();
      let afterRelease = '';
      await waitFor(
        async () => {
          afterRelease = (await watchFirst(client, '')).first;
          return afterRelease === 'SERVING';
        },
        { what: 'a Watch after one stream was closed', timeout: 5_000, interval: 10 },
      ).catch(() => undefined);
      assert.deepEqual(
        {
          fifthWatch: fifth.first,
          getJwtWhileFourWatchesOpen: codeName(getJwt.code),
          checkWhileFourWatchesOpen: check,
          watchAfterOneClosed: afterRelease,
        },
        {
          fifthWatch: 'RESOURCE_EXHAUSTED',
          getJwtWhileFourWatchesOpen: 'OK',
          checkWhileFourWatchesOpen: 'SERVING',
          watchAfterOneClosed: 'SERVING',
        },
      );
    } finally {
      for (const c of open) c.cancel();
      client.close();
      await svc.stop();
      await gh.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('#15.2 / #15.3 token type and client binding on every strategy', () => {
  let fake: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  before(async () => {
    fake = await startFakeOidcIssuer();
    svc = await startAuthJwt({ providers: oidcProviders(fake) });
  });
  after(async () => {
    await svc?.stop();
    await fake?.close();
  });

  const introspected = (fields: Record<string, unknown>) => ({
    active: true,
    iss: fake.issuer,
    sub: SUB,
    client_id: AUDIENCE,
    exp: nowS() + 300,
    scope: 'openid',
    ...fields,
  });
  /** A JWT-shaped access token for the userinfo strategy, and the userinfo answer for it. */
  const userinfoToken = async (claims: Record<string, unknown>) => {
    const token = await fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, aud: 'account', exp: nowS() + 300, iat: nowS(), ...claims });
    fake.userinfo.set(token, { sub: SUB, email: 'u@example.com' });
    return token;
  };
  const jwtToken = (claims: Record<string, unknown>) =>
    fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, aud: 'authjwt', exp: nowS() + 300, iat: nowS(), jti: fake.opaque(), ...claims });

  const NOT_ACCESS: [string, Record<string, unknown>][] = [
    ['typ: Refresh', { typ: 'Refresh' }],
    ['typ: ID', { typ: 'ID' }],
    ['typ: Offline', { typ: 'Offline' }],
    ['token_use: refresh_token', { token_use: 'refresh_token' }],
    ['token_use: id_token', { token_use: 'id_token' }],
    ['token_type: refresh_token', { token_type: 'refresh_token' }],
  ];
  const ACCESS: [string, Record<string, unknown>][] = [
    ['(control) no type member', {}],
    ['(control) typ: Bearer', { typ: 'Bearer' }],
    ['(control) token_use: access_token', { token_use: 'access_token' }],
    ['(control) token_type: Bearer', { token_type: 'Bearer' }],
  ];

  /** Runs every case; compares the whole table so a failure lists every wrong case. */
  async function table(cases: [string, Record<string, unknown>, number][], call: (fields: Record<string, unknown>) => Promise<CallResult>) {
    const actual: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const [name, fields, want] of cases) {
      actual[name] = codeName((await call(fields)).code);
      expected[name] = codeName(want);
    }
    assert.deepEqual(actual, expected);
  }
  const typeCases = (): [string, Record<string, unknown>, number][] => [
    ...NOT_ACCESS.map(([n, f]): [string, Record<string, unknown>, number] => [n, f, status.UNAUTHENTICATED]),
    ...ACCESS.map(([n, f]): [string, Record<string, unknown>, number] => [n, f, status.OK]),
  ];

  it('regression #15.2: introspection refuses refresh and ID tokens (typ Refresh/ID/Offline, token_use refresh_token/id_token, token_type refresh_token)', async () => {
    await table(typeCases(), async (fields) => {
      const token = fake.opaque();
      fake.introspection.set(token, introspected(fields));
      return svc.getJwt(account('intro', token));
    });
  });

  it('regression #15.2: auto (opaque token → introspection) refuses refresh and ID tokens', async () => {
    await table(typeCases(), async (fields) => {
      const token = fake.opaque();
      fake.introspection.set(token, introspected(fields));
      return svc.getJwt(account('auto', token));
    });
  });

  it('regression #15.2: userinfo refuses a JWT-shaped refresh or ID token (typ/token_use/token_type in its payload)', async () => {
    await table(typeCases(), async (fields) => svc.getJwt(account('ui', await userinfoToken(fields))));
  });

  it('regression #15.2: jwt applies the same token-type rules (token_use / token_type in the payload, not only typ)', async () => {
    await table(typeCases(), async (fields) => svc.getJwt(account('jwt', await jwtToken(fields))));
  });

  const bindingCases = (): [string, Record<string, unknown>, number][] => [
    ['aud [frontend] + azp other-app', { aud: [AUDIENCE], azp: 'other-app', client_id: undefined }, status.UNAUTHENTICATED],
    ['aud [frontend] + client_id other-app', { aud: [AUDIENCE], azp: undefined, client_id: 'other-app' }, status.UNAUTHENTICATED],
    ['aud frontend + azp other-app', { aud: AUDIENCE, azp: 'other-app', client_id: undefined }, status.UNAUTHENTICATED],
    [
      'aud [frontend, authjwt] + azp other-app + client_id other-app',
      { aud: [AUDIENCE, 'authjwt'], azp: 'other-app', client_id: 'other-app' },
      status.UNAUTHENTICATED,
    ],
    ['(control) aud [frontend] + azp frontend', { aud: [AUDIENCE], azp: AUDIENCE, client_id: undefined }, status.OK],
    ['(control) aud authjwt + azp frontend (Keycloak)', { aud: 'authjwt', azp: AUDIENCE, client_id: undefined }, status.OK],
    ['(control) aud [frontend] only', { aud: [AUDIENCE], azp: undefined, client_id: undefined }, status.OK],
    ['(control) client_id frontend, aud a resource', { aud: 'https://api.example', azp: undefined, client_id: AUDIENCE }, status.OK],
  ];
  const withoutUndefined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

  it('regression #15.3: jwt refuses a token issued to another client (azp / client_id other-app) even when aud lists ours', async () => {
    await table(bindingCases(), async (fields) => {
      const token = await fake.sign(
        withoutUndefined({ iss: fake.issuer, sub: SUB, exp: nowS() + 300, iat: nowS(), jti: fake.opaque(), ...fields }),
      );
      return svc.getJwt(account('jwt', token));
    });
  });

  it('regression #15.3: introspection refuses an answer whose client_id / azp is another client even when aud lists ours', async () => {
    await table(bindingCases(), async (fields) => {
      const token = fake.opaque();
      fake.introspection.set(token, withoutUndefined({ active: true, iss: fake.issuer, sub: SUB, exp: nowS() + 300, ...fields }));
      return svc.getJwt(account('intro', token));
    });
  });

  it('regression #15.3: userinfo refuses a JWT-shaped token issued to another client (azp other-app) even when aud lists ours', async () => {
    await table(bindingCases(), async (fields) => {
      const token = await fake.sign(withoutUndefined({ iss: fake.issuer, sub: SUB, exp: nowS() + 300, iat: nowS(), ...fields }));
      fake.userinfo.set(token, { sub: SUB });
      return svc.getJwt(account('ui', token));
    });
  });

  it('regression #15.10: a JWT access token with iat beyond the clock tolerance in the future is refused', async () => {
    // clockTolerance default 30 s.
    await table(
      [
        ['iat now + 1 h', { iat: nowS() + 3_600 }, status.UNAUTHENTICATED],
        ['iat now + 120 s', { iat: nowS() + 120 }, status.UNAUTHENTICATED],
        ['(control) iat now + 10 s (within tolerance)', { iat: nowS() + 10 }, status.OK],
        ['(control) iat now - 60 s', { iat: nowS() - 60 }, status.OK],
      ],
      async (fields) => svc.getJwt(account('jwt', await jwtToken(fields))),
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('#15.4 / #15.5 cancellation and deadlines', () => {
  /** A fully valid call first: discovery, connections and JIT are done before the timing-relevant part. */
  const warmUp = async (svc: RunningAuthJwt, acct: Account) => assert.equal((await svc.getJwt(acct)).code, status.OK, 'warm-up call');

  it('regression #15.4: one caller giving up does not fail another caller sharing the same verification (single-flight)', async () => {
    const fake = await startFakeOidcIssuer();
    const gh = await startFakeGitHub();
    gh.issue('gho_shared', { id: 7, login: 'seven', name: null, email: null }, 'app');
    gh.issue('gho_warm', { id: 7, login: 'seven', name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      providers: [
        ...oidcProviders(fake).filter((p) => p.id === 'intro' || p.id === 'ui'),
        { id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` },
      ],
    });
    const activeAnswer = () => ({ active: true, iss: fake.issuer, sub: SUB, client_id: AUDIENCE, exp: nowS() + 300 });
    const [warmOpaque, opaque] = [fake.opaque(), fake.opaque()];
    fake.introspection.set(warmOpaque, activeAnswer());
    fake.introspection.set(opaque, activeAnswer());
    const [warmJwt, jwtShaped] = [
      await fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, exp: nowS() + 300, n: 1 }),
      await fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, exp: nowS() + 300, n: 2 }),
    ];
    fake.userinfo.set(warmJwt, { sub: SUB });
    fake.userinfo.set(jwtShaped, { sub: SUB });
    try {
      await warmUp(svc, account('intro', warmOpaque));
      await warmUp(svc, account('ui', warmJwt));
      await warmUp(svc, { provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_warm' });
      fake.latency = { introspection: 1_500, userinfo: 1_500 };
      gh.delayMs = 1_500;
      const results: Record<string, { A: string; B: string; providerCalls: number }> = {};
      const shared = async (name: string, acct: Account, providerCalls: () => number) => {
        const before = providerCalls();
        let aSettled = false;
        // A starts the shared verification (its provider call is seen), then B joins it.
        const a = svc.getJwt(acct, { deadlineMs: 300 }).finally(() => (aSettled = true));
        await waitFor(() => providerCalls() > before || aSettled, { what: `${name}: A's provider call`, timeout: 5_000, interval: 10 });
        const b = svc.getJwt(acct, { deadlineMs: 8_000 });
        const [ra, rb] = await Promise.all([a, b]);
        results[name] = { A: codeName(ra.code), B: codeName(rb.code), providerCalls: providerCalls() - before };
      };
      await shared('introspection', account('intro', opaque), () => fake.count('introspection'));
      await shared('userinfo', account('ui', jwtShaped), () => fake.count('userinfo'));
      await shared(
        'github user API',
        { provider: 'github', type: 'oauth', providerAccountId: '7', accessToken: 'gho_shared' },
        () => gh.requests.length,
      );
      console.log(`# regression #15.4: ${JSON.stringify(results)}`);
      const outcome = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { A: v.A, B: v.B }]));
      assert.deepEqual(outcome, {
        introspection: { A: 'DEADLINE_EXCEEDED', B: 'OK' },
        userinfo: { A: 'DEADLINE_EXCEEDED', B: 'OK' },
        'github user API': { A: 'DEADLINE_EXCEEDED', B: 'OK' },
      });
    } finally {
      await svc.stop();
      await fake.close();
      await gh.close();
    }
  });

  it('regression #15.5: a caller leaving after 300 ms aborts the 3 s introspection / userinfo request, and no success is logged for it', async () => {
    const fake = await startFakeOidcIssuer();
    const svc = await startAuthJwt({ providers: oidcProviders(fake).filter((p) => p.id === 'intro' || p.id === 'ui') });
    try {
      const token = async (provider: 'intro' | 'ui') => {
        if (provider === 'intro') {
          const t = fake.opaque();
          fake.introspection.set(t, { active: true, iss: fake.issuer, sub: SUB, client_id: AUDIENCE, exp: nowS() + 300 });
          return t;
        }
        const t = await fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, exp: nowS() + 300, jti: fake.opaque() });
        fake.userinfo.set(t, { sub: SUB });
        return t;
      };
      await warmUp(svc, account('intro', await token('intro')));
      await warmUp(svc, account('ui', await token('ui')));
      fake.latency = { introspection: 3_000, userinfo: 3_000 };
      const results: Record<string, { caller: string; providerRequestLeftRunning: boolean; okLogged: boolean }> = {};
      const leave = async (provider: 'intro' | 'ui', endpoint: 'introspection' | 'userinfo') => {
        const t = await token(provider);
        const from = svc.logs.length;
        const res = await svc.getJwt(account(provider, t), { deadlineMs: 300 });
        // The call's log line comes when authjwt is done with it (today: after the 3 s answer).
        const line = () => logLines(svc, from).find((l) => l.rpc === 'GetJWT' && l.provider === provider);
        await waitFor(() => line() !== undefined, { what: `the GetJWT log line of ${provider}`, timeout: 8_000, interval: 10 });
        // A request that was sent must then be aborted (or, today, answered); one never sent is fine.
        const request = fake.requests.find((r) => r.endpoint === endpoint && r.token === t);
        if (request)
          await waitFor(() => request.aborted || request.answered, {
            what: `${endpoint} request aborted or answered`,
            timeout: 6_000,
            interval: 10,
          });
        results[provider] = {
          caller: codeName(res.code),
          providerRequestLeftRunning: request?.answered ?? false,
          okLogged: line()!.outcome === 'ok',
        };
      };
      await Promise.all([leave('intro', 'introspection'), leave('ui', 'userinfo')]);
      assert.deepEqual(results, {
        intro: { caller: 'DEADLINE_EXCEEDED', providerRequestLeftRunning: false, okLogged: false },
        ui: { caller: 'DEADLINE_EXCEEDED', providerRequestLeftRunning: false, okLogged: false },
      });
    } finally {
      await svc.stop();
      await fake.close();
    }
  });

  it('regression #15.5: 520 abandoned calls (maxConcurrentCalls 512) free their admission slots at once: an unrelated call 0.3 s later is not RESOURCE_EXHAUSTED', async () => {
    const fake = await startFakeOidcIssuer();
    const gh = await startFakeGitHub();
    gh.issue('gho_unrelated', { id: 9, login: 'nine', name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      providers: [
        ...oidcProviders(fake, { timeout: '20s' }).filter((p) => p.id === 'intro'),
        { id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` },
      ],
    });
    const active = () => {
      const t = fake.opaque();
      fake.introspection.set(t, { active: true, iss: fake.issuer, sub: SUB, client_id: AUDIENCE, exp: nowS() + 300 });
      return t;
    };
    const calls: { cancel(): void }[] = [];
    try {
      assert.equal(svc.config.grpc.maxConcurrentCalls, 512);
      assert.equal((await svc.getJwt(account('intro', active()))).code, status.OK, 'warm-up');
      fake.latency = { introspection: 15_000 };
      const before = fake.count('introspection');
      // 520 callers wait on a slow introspection (8 are shed at once), then all of them leave.
      const abandoned = Array.from(
        { length: 520 },
        () =>
          new Promise<CallResult>((resolve) => {
            const acct = account('intro', active());
            calls.push(
              svc.client.GetJWT({ account: acct }, new Metadata(), { deadline: Date.now() + 30_000 }, (e, r) =>
                resolve(e ? { code: e.code } : { code: status.OK, token: r!.token }),
              ),
            );
          }),
      );
      await waitFor(() => fake.count('introspection') - before >= 512, {
        what: '512 introspection requests in flight',
        timeout: 20_000,
        interval: 10,
      });
      for (const c of calls) c.cancel();
      const results = await Promise.all(abandoned);
      const tally: Record<string, number> = {};
      for (const r of results) tally[codeName(r.code)] = (tally[codeName(r.code)] ?? 0) + 1;
      const leftAt = Date.now();
      await sleep(300); // "0.3 s later": the point of the test, not a synchronisation wait
      const unrelatedCall = () => svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '9', accessToken: 'gho_unrelated' });
      const first = await unrelatedCall();
      // Tolerates a loaded machine (slots freed within 3 s); the provider answers only after 15 s.
      let admitted = first;
      while (admitted.code === status.RESOURCE_EXHAUSTED && Date.now() - leftAt < 3_000) {
        await sleep(100);
        admitted = await unrelatedCall();
      }
      const admittedAfterMs = Date.now() - leftAt;
      const aborted = fake.requests.filter((r) => r.endpoint === 'introspection' && r.aborted).length;
      console.log(
        `# regression #15.5: 520 abandoned calls: ${JSON.stringify(tally)}; introspection requests ${fake.count('introspection') - before}, aborted ${aborted}; unrelated call 0.3 s later: ${codeName(first.code)}, admitted ${codeName(admitted.code)} after ${admittedAfterMs} ms`,
      );
      assert.deepEqual(tally, { CANCELLED: 512, RESOURCE_EXHAUSTED: 8 });
      assert.equal(codeName(admitted.code), 'OK', `an unrelated call within 3 s of 520 callers leaving: ${admitted.details}`);
    } finally {
      for (const c of calls) c.cancel();
      await svc.stop();
      await fake.close();
      await gh.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('#15.6 / #15.7 / #15.9 provider answers', () => {
  it('regression #15.6: a token with an unadvertised alg does not make authjwt drop its cached JWKS; genuine tokens pass while the JWKS endpoint is down', async () => {
    const attacker = await generateKeyPair('RS256');
    const outcomes: Record<string, unknown> = {};
    for (const [mode, down] of [
      ['jwks 503', { status: 503, json: { error: 'unavailable' } }],
      ['jwks connection reset', { destroy: true }],
    ] as [string, FakeAnswer][]) {
      const fake = await startFakeOidcIssuer(); // advertises ES256 only
      const svc = await startAuthJwt({ providers: oidcProviders(fake).filter((p) => p.id === 'jwt') });
      const genuine = () => fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, exp: nowS() + 300, iat: nowS(), jti: fake.opaque() });
      try {
        const first = await svc.getJwt(account('jwt', await genuine()));
        assert.equal(first.code, status.OK, `${mode}: warm-up ${first.details}`);
        const discoveriesBefore = fake.count('discovery');
        fake.script('jwks', () => down);
        const forged = await new CompactSign(
          new TextEncoder().encode(JSON.stringify({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, exp: nowS() + 300 })),
        )
          .setProtectedHeader({ alg: 'RS256', kid: fake.kid, typ: 'at+jwt' })
          .sign(attacker.privateKey);
        const forgedResults = [];
        for (let i = 0; i < 5; i++) forgedResults.push(codeName((await svc.getJwt(account('jwt', forged))).code));
        const genuineResults = [];
        for (let i = 0; i < 3; i++) genuineResults.push(codeName((await svc.getJwt(account('jwt', await genuine()))).code));
        outcomes[mode] = {
          forged: [...new Set(forgedResults)],
          genuineAfter: [...new Set(genuineResults)],
          rediscoveriesAtMostOne: fake.count('discovery') - discoveriesBefore <= 1,
        };
      } finally {
        await svc.stop();
        await fake.close();
      }
    }
    const want = { forged: ['UNAUTHENTICATED'], genuineAfter: ['OK'], rediscoveriesAtMostOne: true };
    assert.deepEqual(outcomes, { 'jwks 503': want, 'jwks connection reset': want });
  });

  it('regression #15.7: provider bodies are capped (1 MiB default) on introspection, userinfo, JWKS and discovery — 8 MiB answers, with and without content-length, are UNAVAILABLE', {
    timeout: 60_000,
  }, async () => {
    const EIGHT_MIB = 8 * 1024 * 1024;
    const SMALL = 256 * 1024; // controls: well under the cap
    const actual: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const chunked of [false, true]) {
      for (const size of [EIGHT_MIB, SMALL]) {
        const label = (endpoint: string) => `${endpoint} ${size === SMALL ? '256 KiB (control)' : '8 MiB'}${chunked ? ' chunked' : ''}`;
        const want = size === SMALL ? 'OK' : 'UNAVAILABLE';
        // Introspection and userinfo on one provider set (discovery and JWKS small).
        {
          const fake = await startFakeOidcIssuer();
          const svc = await startAuthJwt({ providers: oidcProviders(fake).filter((p) => p.id === 'intro' || p.id === 'ui') });
          fake.script('introspection', (req) => ({
            raw: paddedJson(
              { active: true, iss: fake.issuer, sub: SUB, client_id: AUDIENCE, exp: nowS() + 300, token: req.token?.slice(0, 4) },
              size,
            ),
            headers: { 'content-type': 'application/json' },
            chunked,
          }));
          fake.script('userinfo', () => ({
            raw: paddedJson({ sub: SUB }, size),
            headers: { 'content-type': 'application/json' },
            chunked,
          }));
          try {
            actual[label('introspection')] = codeName((await svc.getJwt(account('intro', fake.opaque()))).code);
            const jwtShaped = await fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, exp: nowS() + 300 });
            actual[label('userinfo')] = codeName((await svc.getJwt(account('ui', jwtShaped))).code);
            expected[label('introspection')] = want;
            expected[label('userinfo')] = want;
          } finally {
            await svc.stop();
            await fake.close();
          }
        }
        // JWKS and discovery: the huge document is served from the start.
        for (const endpoint of ['jwks', 'discovery'] as const) {
          const fake = await startFakeOidcIssuer();
          if (endpoint === 'jwks')
            fake.script('jwks', () => ({
              raw: paddedJson({ keys: [fake.publicJwk] }, size),
              headers: { 'content-type': 'application/json' },
              chunked,
            }));
          else {
            const doc = {
              issuer: fake.issuer,
              jwks_uri: `${fake.issuer}/jwks`,
              authorization_endpoint: `${fake.issuer}/auth`,
              response_types_supported: ['code'],
              subject_types_supported: ['public'],
              id_token_signing_alg_values_supported: ['ES256'],
            };
            fake.script('discovery', () => ({ raw: paddedJson(doc, size), headers: { 'content-type': 'application/json' }, chunked }));
          }
          const svc = await startAuthJwt({ providers: oidcProviders(fake).filter((p) => p.id === 'jwt') });
          try {
            const token = await fake.sign({ iss: fake.issuer, sub: SUB, azp: AUDIENCE, exp: nowS() + 300, iat: nowS() });
            actual[label(endpoint)] = codeName((await svc.getJwt(account('jwt', token))).code);
            expected[label(endpoint)] = want;
          } finally {
            await svc.stop();
            await fake.close();
          }
        }
      }
    }
    assert.deepEqual(actual, expected);
  });

  it('regression #15.9: the introspection endpoint refusing our client credentials (401) is UNAVAILABLE with a configuration hint in the logs, not UNAUTHENTICATED', async () => {
    const fake = await startFakeOidcIssuer();
    const svc = await startAuthJwt({
      providers: [
        ...oidcProviders(fake).filter((p) => p.id === 'intro'),
        {
          id: 'intro-badcreds',
          type: 'oidc',
          issuer: fake.issuer,
          verification: 'introspection',
          audiences: [AUDIENCE],
          clientId: fake.client.id,
          clientSecret: 'not-the-right-secret-9a7e',
        },
      ],
    });
    const variants: [string, string, FakeAnswer | undefined][] = [
      ['401 WWW-Authenticate: Basic realm, empty body', 'intro', { status: 401, headers: { 'www-authenticate': 'Basic realm="idp"' } }],
      [
        '401 {"error":"invalid_client"}',
        'intro',
        { status: 401, json: { error: 'invalid_client', error_description: 'client authentication failed' } },
      ],
      ['401 empty body, no headers', 'intro', { status: 401 }],
      ['wrong clientSecret configured (fake answers 401 invalid_client + Basic challenge)', 'intro-badcreds', undefined],
    ];
    try {
      const actual: Record<string, { code: string; configurationHintLogged: boolean }> = {};
      for (const [name, provider, answer] of variants) {
        fake.script('introspection', answer ? () => answer : undefined);
        const token = fake.opaque();
        fake.introspection.set(token, { active: true, iss: fake.issuer, sub: SUB, client_id: AUDIENCE, exp: nowS() + 300 });
        const from = svc.logs.length;
        const res = await svc.getJwt(account(provider, token));
        const lines = logLines(svc, from);
        const hint = lines.some((l) => (l.level === 'warn' || l.level === 'error') && /credential/i.test(JSON.stringify(l)));
        actual[name] = { code: codeName(res.code), configurationHintLogged: hint };
        assert.ok(!svc.logs.slice(from).join('').includes('not-the-right-secret-9a7e'), 'the client secret was logged');
      }
      const want = { code: 'UNAVAILABLE', configurationHintLogged: true };
      assert.deepEqual(actual, Object.fromEntries(variants.map(([n]) => [n, want])));
    } finally {
      await svc.stop();
      await fake.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('#15.8 main.ts never prints secrets', () => {
  const SECRET = 's3cr3t-value-Mn4Rw8';
  const header = (httpPort: number) =>
    `issuer: http://127.0.0.1:${httpPort}\naudience: [internal-services]\nkeys: { ephemeral: true }\ngrpc: { listen: "127.0.0.1:0" }\nhttp: { listen: "127.0.0.1:${httpPort}" }\n`;

  it('regression #15.8: main.ts exits 2 on a YAML syntax error or a bad duration without printing the secret value', async () => {
    const httpPort = await freePort();
    const cases = {
      'YAML syntax error on the clientSecret line': `${header(httpPort)}providers:\n  - id: kc\n    issuer: https://kc.example/realms/x\n    clientId: authjwt\n    clientSecret: ${SECRET}: oops\n`,
      'duration holding a secret-looking value': `${header(httpPort)}providers:\n  - id: kc\n    issuer: https://kc.example/realms/x\n    audiences: [frontend]\n    timeout: ${SECRET}\n`,
    };
    const actual: Record<string, { exitCode: unknown; secretPrinted: boolean; saysInvalidConfiguration: boolean }> = {};
    for (const [name, yaml] of Object.entries(cases)) {
      const proc = startAuthJwtProcess(yaml);
      const exitCode = await Promise.race([proc.exited, sleep(20_000, 'hang', { ref: false })]);
      await proc.stop();
      const output = proc.stdout() + proc.stderr();
      actual[name] = {
        exitCode,
        secretPrinted: output.includes(SECRET),
        saysInvalidConfiguration: /invalid configuration/.test(proc.stderr()),
      };
      if (name.startsWith('duration')) assert.match(proc.stderr(), /providers\[0\]\.timeout/, 'names the field');
    }
    const want = { exitCode: 2, secretPrinted: false, saysInvalidConfiguration: true };
    assert.deepEqual(actual, Object.fromEntries(Object.keys(cases).map((n) => [n, want])));
  });

  it('regression #15.8: an issuer URL with user:password@ is refused at start without printing the credentials', async () => {
    const httpPort = await freePort();
    const proc = startAuthJwtProcess(
      `${header(httpPort)}providers:\n  - { id: kc, issuer: "http://user:password@127.0.0.1:9/realms/x" }\n`,
    );
    const code = await proc.exited;
    const output = proc.stdout() + proc.stderr();
    assert.equal(code, 2, output);
    assert.match(output, /providers\[0\]\.issuer: must not contain a user name or password/);
    assert.deepEqual(
      { password: output.includes('password@'), userinfo: output.includes('user:password@') },
      { password: false, userinfo: false },
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('#15.10 smaller findings', () => {
  it('regression #15.10: /readyz does not show the keys directory or any file path (a key reload failure is reported without paths)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-readyz-'));
    writeSecretRevision(dir, { 'a.pem': privateKeyPem() }, 1);
    const svc = await startAuthJwt({
      keys: { dir, reloadInterval: '100ms' },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: 'http://127.0.0.1:9/user' }],
    });
    try {
      const bodies: Record<string, string> = {};
      // 1. a corrupt key file; 2. a Secret left without any private key ("no private key found in <dir>").
      // The failing reload is recognised by its log line (logs keep the details, /readyz must not).
      const failures: [string, Record<string, string>, RegExp][] = [
        ['corrupt key file', { 'a.pem': '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n' }, /a\.pem/],
        ['no private key left', { 'README.md': 'rotated away\n' }, /no private key/i],
      ];
      let revision = 2;
      for (const [name, files, logged] of failures) {
        const from = svc.logs.length;
        writeSecretRevision(dir, files, revision++);
        await waitFor(() => svc.logs.slice(from).some((l) => l.includes('key reload failed') && logged.test(l)), {
          what: `${name}: key reload failure`,
          timeout: 10_000,
          interval: 10,
        });
        const res = await fetch(`${svc.httpUrl}/readyz`);
        bodies[name] = await res.text();
        assert.equal(res.status, 200, `${name}: still ready with the last good keys`);
      }
      const leaks = Object.entries(bodies)
        .filter(([, body]) => body.includes(dir) || body.includes(tmpdir()) || /(^|[\s"'(:])\/[\w.-]+\/[\w./-]+/.test(body))
        .map(([name, body]) => `${name}: ${body}`);
      assert.deepEqual(leaks, [], '/readyz bodies that show a file path');
    } finally {
      await svc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('regression #15.10: a world-readable private key file (mode 0644) loads with a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-perm-'));
    const file = join(dir, 'signing.pem');
    writeFileSync(file, privateKeyPem());
    chmodSync(file, 0o644);
    const gh = await startFakeGitHub();
    gh.issue('gho_perm', { id: 3, login: 'three', name: null, email: null }, 'app');
    const svc = await startAuthJwt({
      keys: { dir },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }],
    });
    try {
      const res = await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '3', accessToken: 'gho_perm' });
      assert.equal(res.code, status.OK, 'the key still loads and signs');
      const warned = logLines(svc).some(
        (l) =>
          (l.level === 'warn' || l.level === 'error') &&
          /signing\.pem/.test(JSON.stringify(l)) &&
          /readable|permission|mode|0?644/i.test(JSON.stringify(l)),
      );
      assert.ok(warned, 'no warning about the world-readable key file');
    } finally {
      await svc.stop();
      await gh.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('regression #15.10: an idle gRPC connection is closed by the server after grpc.maxConnectionIdle (2 s)', async () => {
    const svc = await startAuthJwt({
      grpc: { maxConnectionIdle: '2s' },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: 'http://127.0.0.1:9/user' }],
    });
    try {
      // Any call opens the connection (this one is refused as malformed).
      assert.equal((await svc.getJwt(undefined)).code, status.INVALID_ARGUMENT);
      const channel = svc.client.getChannel();
      const READY = 2;
      assert.equal(channel.getConnectivityState(false), READY);
      const openedAt = Date.now();
      await waitFor(() => channel.getConnectivityState(false) !== READY, {
        what: 'the server to close the idle connection',
        timeout: 10_000,
        interval: 10,
      });
      console.log(`# regression #15.10: idle connection closed by the server after ${Date.now() - openedAt} ms (maxConnectionIdle 2 s)`);
    } finally {
      await svc.stop();
    }
  });

  it('regression #15.10: by default an idle gRPC connection is closed before grpc.maxConnectionAge (idle timeout set and shorter)', () => {
    const { grpc } = buildConfig(
      { issuer: 'https://authjwt.example', audience: 'x', keys: { ephemeral: true }, providers: [{ id: 'github', preset: 'github' }] },
      { env: {} },
    );
    assert.ok(
      grpc.maxConnectionIdle < grpc.maxConnectionAge,
      `default maxConnectionIdle ${grpc.maxConnectionIdle} ms is not shorter than maxConnectionAge ${grpc.maxConnectionAge} ms: idle connections linger until the age limit`,
    );
  });
});
