/**
 * Key rotation across replicas, proven with real Envoy (issue 19): three authjwt replicas behind one
 * Envoy running deploy/envoy/ext-authz.yaml — gRPC ext_authz round-robin over the three, and jwt_authn
 * fetching the JWKS through the same round-robin cluster — each replica with its own Secret volume that
 * sees the new key file at a different moment (the kubelet's atomic `..data` swap, staggered as the
 * kubelet's sync period staggers pods). Continuous load goes through a whole rotation, following
 * docs/key-rotation.md: add the key → publish lead → it signs → the old one is retired once its last
 * token has expired. Expected: 0 rejected requests. The minted-token cache is off, so each request
 * carries a token signed at that moment: the new key's tokens reach Envoy as soon as a replica switches
 * (with the cache on, reused tokens hide a too-short lead; with a 0.5 s lead this test fails).
 *
 * Negative control: the same with a JWKS cache_duration longer than the publish lead. Envoy 1.40 does
 * not refetch the JWKS for an unknown `kid`, so the first tokens signed with the new key are rejected
 * until the cache expires: the reason for the rule "cache_duration well below publishLeadTime".
 *
 * Also: Envoy's verified-token cache (jwt_cache_config) keeps accepting a token it verified before its
 * key was removed, until the token expires (docs/key-rotation.md, emergency revocation).
 *
 * Times are scaled down to keep the test short (the examples' 300 s cache and 10–30 min lead become
 * 1 s and 4 s); the ratios are what matters. Prints the request count and the rotation's timeline.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { renderExample, startEnvoy, type EnvoyGateway } from '../helpers/gateways.ts';
import { findTool, requireTool } from '../helpers/interop-tools.ts';
import { freePort, listenOnLoopback, type LoopbackServer } from '../helpers/net.ts';
import { privateKeyPem, writeSecretRevision } from '../helpers/secret-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const REPLICAS = 3;
/** keys.publishLeadTime of the replicas. */
const LEAD_MS = 4_000;
/** The kubelet updates each pod's volume at its own moment: replica i sees a change i × STAGGER_MS later. */
const STAGGER_MS = 750;
/** tokenTtl (its minimum) and mintedTokens.refreshMargin. */
const TOKEN_TTL_MS = 10_000;
const REFRESH_MARGIN_MS = 3_000;
/** Concurrent clients and the pause each makes between two requests (≈ 100 requests/s in all). */
const CLIENTS = 4;
const PAUSE_MS = 30;
const USERS = 12;
/** The examples' issuer: the replicas use it as is, so only addresses change in ext-authz.yaml. */
const ISSUER = 'https://authjwt.example.com';

interface Outcome {
  /** ms since t0 when the request was sent. */
  at: number;
  /** ms since t0 when its answer arrived. */
  done: number;
  status: number;
  kid?: string | undefined;
  body?: string;
}

/** One replica: its Secret directory (its own volume, as each pod has) and the kids it signed new tokens with, in order. */
interface Replica {
  dir: string;
  svc: RunningAuthJwt;
  signed: { at: number; kid: string }[];
}

describe('key rotation across three replicas behind real Envoy (round robin, jwt_authn through the same Service)', () => {
  let gh: FakeGitHub;
  let upstream: LoopbackServer;
  const envoyBin = findTool('envoy');

  before(async () => {
    gh = await startFakeGitHub();
    for (let i = 0; i < USERS; i++) gh.issue(`gho_rotation_${i}`, { id: 1000 + i, login: `user${i}`, name: null, email: null }, 'Iv1.rot');
    // The API: answers 200 with the kid of the authjwt token Envoy let through.
    upstream = await listenOnLoopback(
      createServer((req, res) => {
        const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        res.writeHead(200, { 'content-type': 'text/plain' }).end(token ? String(decodeProtectedHeader(token).kid) : '');
      }),
    );
  });
  after(async () => {
    await upstream?.close();
    await gh?.close();
  });

  /** Starts the replicas on key A, Envoy in front, and runs the load until `stop()`. */
  async function setUp(cacheDuration: string) {
    const keyA = privateKeyPem();
    const replicas: Replica[] = [];
    const t0 = Date.now();
    for (let i = 0; i < REPLICAS; i++) {
      const dir = mkdtempSync(join(tmpdir(), `authjwt-rotation-${i}-`));
      writeSecretRevision(dir, { 'signing-a.pem': keyA }, 1);
      const replica: Replica = { dir, svc: undefined as never, signed: [] };
      replica.svc = await startAuthJwt(
        {
          issuer: ISSUER,
          tokenTtl: `${TOKEN_TTL_MS / 1000}s`,
          // No minted-token cache: every request gets a token signed now, so a new key's tokens reach
          // Envoy the moment a replica switches (a cached token would hide the switch for a while).
          mintedTokens: { maxEntries: 0, refreshMargin: `${REFRESH_MARGIN_MS / 1000}s` },
          keys: { dir, publishLeadTime: `${LEAD_MS / 1000}s`, reloadInterval: '200ms' },
          edge: { extAuthz: { enabled: true } },
          providers: [fakeGitHubProvider(gh, { timeout: '5s', retries: 0 })],
        },
        {
          observer: {
            onExchange: (e) => {
              // New signatures only: a minted-token cache hit hands out a token signed earlier.
              if (e.outcome === 'ok' && !e.reused && e.kid && replica.signed.at(-1)?.kid !== e.kid)
                replica.signed.push({ at: Date.now() - t0, kid: e.kid });
            },
          },
        },
      );
      replicas.push(replica);
    }
    const port = await freePort();
    const envoy = await startEnvoy(
      envoyBin!,
      port,
      renderExample('deploy/envoy/ext-authz.yaml', {
        '{ address: 0.0.0.0, port_value: 10000 }': `{ address: 127.0.0.1, port_value: ${port} }`,
        '{ address: backend.default.svc.cluster.local, port_value: 3000 }': `{ address: 127.0.0.1, port_value: ${upstream.port} }`,
        // One Service, three pods: the clusters' single endpoint becomes the three replicas (round robin).
        [endpoint('authjwt.auth.svc.cluster.local', 50051)]: replicas.map((r) => endpoint('127.0.0.1', r.svc.app.grpcPort)).join('\n'),
        [endpoint('authjwt.auth.svc.cluster.local', 8080)]: replicas.map((r) => endpoint('127.0.0.1', r.svc.app.httpPort)).join('\n'),
        'cache_duration: 300s': `cache_duration: ${cacheDuration}`,
      }),
    );
    // Envoy's health checks have found the replicas and jwt_authn has fetched the JWKS (async_fetch).
    await waitFor(async () => (await envoy.stat('cluster.authjwt_ext_authz.membership_healthy')) === REPLICAS, {
      what: 'three healthy replicas',
      timeout: 15_000,
    });
    await waitFor(async () => (await envoy.stat('cluster.authjwt_jwks.upstream_rq_200')) >= 1, {
      what: 'the first JWKS fetch',
      timeout: 15_000,
    });

    const outcomes: Outcome[] = [];
    let running = true;
    let n = 0;
    const client = async () => {
      while (running) {
        const token = `gho_rotation_${n++ % USERS}`;
        const at = Date.now() - t0;
        const res = await get(`${envoy.url}/api/items`, token);
        const done = Date.now() - t0;
        outcomes.push(res.status === 200 ? { at, done, status: 200, kid: res.body } : { at, done, status: res.status, body: res.body });
        await sleep(PAUSE_MS);
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    return {
      t0,
      keyA,
      replicas,
      envoy,
      outcomes,
      /** Writes the next Secret revision into every replica's volume, replica i STAGGER_MS × i later. */
      async publish(files: Record<string, string>, revision: number, log: string[]) {
        for (const [i, r] of replicas.entries()) {
          if (i > 0) await sleep(STAGGER_MS);
          writeSecretRevision(r.dir, files, revision);
          log.push(`+${((Date.now() - t0) / 1000).toFixed(1)}s replica ${i} sees revision ${revision}: ${Object.keys(files).join(', ')}`);
        }
      },
      async stop() {
        running = false;
        await Promise.all(clients);
        await envoy.stop();
        for (const r of replicas) {
          await r.svc.stop();
          rmSync(r.dir, { recursive: true, force: true });
        }
      },
    };
  }

  const kidOf = async (svc: RunningAuthJwt) => svc.app.keys.store.status().signingKid!;
  const jwksKids = async (svc: RunningAuthJwt) =>
    ((await (await fetch(`${svc.httpUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();

  /** Requests per second with their kids and failures: the timeline printed by both tests. */
  function timeline(outcomes: Outcome[], kids: Record<string, string>): string[] {
    const rows = new Map<number, { n: number; failed: number; kids: Map<string, number> }>();
    for (const o of outcomes) {
      const s = Math.floor(o.at / 1000);
      const row = rows.get(s) ?? { n: 0, failed: 0, kids: new Map() };
      row.n++;
      if (o.status !== 200) row.failed++;
      else row.kids.set(kids[o.kid!] ?? o.kid!, (row.kids.get(kids[o.kid!] ?? o.kid!) ?? 0) + 1);
      rows.set(s, row);
    }
    return [...rows.entries()]
      .sort(([a], [b]) => a - b)
      .map(
        ([s, r]) =>
          `  ${String(s).padStart(3)}s ${String(r.n).padStart(4)} requests ${[...r.kids].map(([k, c]) => `${k}:${c}`).join(' ')}${r.failed ? `  FAILED ${r.failed}` : ''}`,
      );
  }

  it('JWKS cache (1s) below the publish lead (4s): a whole rotation under load, 0 rejected requests', { timeout: 120_000 }, async (t) => {
    if (!requireTool(t, 'envoy')) return;
    const run = await setUp('1s');
    const log: string[] = [];
    try {
      const kidA = await kidOf(run.replicas[0]!.svc);
      await sleep(2_000);
      // 1. Add key B as a new file (no Not-Before): each replica publishes it at once and signs with it
      //    LEAD_MS after it saw the file.
      const keyB = privateKeyPem();
      await run.publish({ 'signing-a.pem': run.keyA, 'signing-b.pem': keyB }, 2, log);
      // 2. Every replica signs with B.
      const kidB = await waitFor(
        async () => {
          const kids = await Promise.all(run.replicas.map((r) => kidOf(r.svc)));
          return kids.every((k) => k !== kidA && k === kids[0]) ? kids[0] : undefined;
        },
        { what: 'every replica signing with the new key', timeout: LEAD_MS + 3 * STAGGER_MS + 5_000, interval: 100 },
      );
      log.push(`+${((Date.now() - run.t0) / 1000).toFixed(1)}s every replica signs with B`);
      // 3. Wait until the last token signed with A has expired (tokenTtl, + a second), then retire A.
      await sleep(TOKEN_TTL_MS + 1_000);
      await run.publish({ 'signing-b.pem': keyB }, 3, log);
      // 4. Every replica drops A from its JWKS; the load goes on through Envoy's next JWKS refresh.
      await waitFor(async () => (await Promise.all(run.replicas.map((r) => jwksKids(r.svc)))).every((k) => k.join() === kidB), {
        what: 'A gone from every JWKS',
        timeout: 5_000,
      });
      log.push(`+${((Date.now() - run.t0) / 1000).toFixed(1)}s A is gone from every replica's JWKS`);
      await sleep(2_000);
      const served = await servedByHost(run.envoy);
      log.push(`answered per replica (upstream port: successful requests): ${JSON.stringify(served)}`);
      await run.stop();

      const names = { [kidA]: 'A', [kidB]: 'B' };
      for (const [i, r] of run.replicas.entries())
        log.push(
          `replica ${i} signed with: ${r.signed.map((s) => `${names[s.kid] ?? s.kid} from +${(s.at / 1000).toFixed(1)}s`).join(', ')}`,
        );
      const failed = run.outcomes.filter((o) => o.status !== 200);
      console.log(
        [
          `rotation under load: ${run.outcomes.length} requests through Envoy, ${failed.length} rejected`,
          ...log,
          'per second (kid of the token the API received):',
          ...timeline(run.outcomes, names),
        ].join('\n'),
      );
      assert.deepEqual(
        failed.slice(0, 5).map((o) => `${o.status} ${o.body}`),
        [],
        `${failed.length} of ${run.outcomes.length} requests rejected`,
      );
      const byKid = (kid: string) => run.outcomes.filter((o) => o.kid === kid).length;
      assert.ok(byKid(kidA) > 50 && byKid(kidB) > 50, `both keys carried the load (A ${byKid(kidA)}, B ${byKid(kidB)})`);
      for (const r of run.replicas)
        assert.deepEqual(
          r.signed.map((s) => s.kid),
          [kidA, kidB],
          'each replica switched once',
        );
      // Round robin: every replica answered checks and served the JWKS to jwt_authn.
      for (const r of run.replicas) {
        assert.ok((served.authjwt_ext_authz?.[r.svc.app.grpcPort] ?? 0) > 100, `replica on ${r.svc.app.grpcPort} answered checks`);
        assert.ok((served.authjwt_jwks?.[r.svc.app.httpPort] ?? 0) > 0, `replica on ${r.svc.app.httpPort} served the JWKS`);
      }
    } catch (e) {
      console.log(log.join('\n'));
      await run.stop().catch(() => {});
      throw e;
    }
  });

  it('negative control: a JWKS cache (60s) longer than the publish lead rejects the new key’s tokens', { timeout: 60_000 }, async (t) => {
    if (!requireTool(t, 'envoy')) return;
    const run = await setUp('60s');
    const log: string[] = [];
    try {
      const kidA = await kidOf(run.replicas[0]!.svc);
      await sleep(1_000);
      await run.publish({ 'signing-a.pem': run.keyA, 'signing-b.pem': privateKeyPem() }, 2, log);
      // Until the first rejection, or well past the moment every replica signs with B.
      await waitFor(() => run.outcomes.some((o) => o.status !== 200), {
        what: 'a rejected request',
        timeout: LEAD_MS + 3 * STAGGER_MS + 5_000,
        interval: 100,
      });
      await sleep(1_000);
      await run.stop();
      const kidB = run.replicas[0]!.signed.at(-1)!.kid;
      const failed = run.outcomes.filter((o) => o.status !== 200);
      console.log(
        [
          `negative control: ${run.outcomes.length} requests, ${failed.length} rejected`,
          ...log,
          ...timeline(run.outcomes, { [kidA]: 'A', [kidB]: 'B' }),
        ].join('\n'),
      );
      assert.notEqual(kidB, kidA, 'the replicas had switched to B');
      assert.ok(failed.length > 0);
      for (const f of failed) {
        assert.equal(f.status, 401);
        assert.match(f.body ?? '', /Jwks doesn't have key to match kid or alg from Jwt/, 'rejected by jwt_authn for the unknown kid');
      }
      // Compared by when the answer arrived: a request sent just before a replica switched to B may be
      // signed with B (its send time can precede the switch by any scheduling delay), but no answer can
      // carry a rejection of a B token before some replica first signed with B.
      const firstFailure = Math.min(...failed.map((f) => f.done));
      const firstSwitch = Math.min(...run.replicas.map((r) => r.signed.find((s) => s.kid === kidB)?.at ?? Number.POSITIVE_INFINITY));
      assert.ok(firstFailure >= firstSwitch, 'rejections start when the new key starts signing');
    } catch (e) {
      console.log(log.join('\n'));
      await run.stop().catch(() => {});
      throw e;
    }
  });
});

describe("Envoy's verified-token cache (jwt_cache_config in deploy/envoy/envoy.yaml) and a removed key", () => {
  it('a token Envoy verified once stays accepted after its key left the JWKS; one it had not seen is refused', async (t) => {
    const envoyBin = requireTool(t, 'envoy');
    if (!envoyBin) return;
    const gh = await startFakeGitHub();
    gh.issue('gho_cache_seen', { id: 1, login: 'seen', name: null, email: null }, 'Iv1.cache');
    gh.issue('gho_cache_unseen', { id: 2, login: 'unseen', name: null, email: null }, 'Iv1.cache');
    const upstream = await listenOnLoopback(createServer((_req, res) => res.writeHead(200).end('ok')));
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-jwt-cache-'));
    const [httpPort, internalPort] = [await freePort(), await freePort()];
    const start = (revision: number, files: Record<string, string>) => {
      writeSecretRevision(dir, files, revision);
      return startAuthJwt({
        issuer: ISSUER,
        keys: { dir },
        http: { listen: `127.0.0.1:${httpPort}` },
        internalHttp: { listen: `127.0.0.1:${internalPort}` },
        edge: { forwardAuth: { enabled: true } },
        providers: [fakeGitHubProvider(gh, { timeout: '5s', retries: 0 })],
      });
    };
    let svc = await start(1, { 'signing-a.pem': privateKeyPem() });
    const port = await freePort();
    const envoy = await startEnvoy(
      envoyBin,
      port,
      renderExample('deploy/envoy/envoy.yaml', {
        '{ address: 0.0.0.0, port_value: 10000 }': `{ address: 127.0.0.1, port_value: ${port} }`,
        '{ address: backend.default.svc.cluster.local, port_value: 3000 }': `{ address: 127.0.0.1, port_value: ${upstream.port} }`,
        '{ address: authjwt.auth.svc.cluster.local, port_value: 8080 }': `{ address: 127.0.0.1, port_value: ${httpPort} }`,
        'cache_duration: 300s': 'cache_duration: 1s',
      }),
    );
    try {
      const mint = async (token: string) => {
        const res = await fetch(`http://127.0.0.1:${internalPort}/forward-auth`, {
          headers: { authorization: `Bearer ${token}`, 'x-authjwt-provider': 'github' },
        });
        return res.headers.get('authorization')!;
      };
      const seen = await mint('gho_cache_seen');
      const unseen = await mint('gho_cache_unseen');
      const call = async (authorization: string) => (await fetch(`${envoy.url}/api`, { headers: { authorization } })).status;
      await waitFor(async () => (await call(seen)) === 200, { what: 'Envoy accepting the token (JWKS fetched)' });
      // The compromised key is removed: authjwt restarts with the new key only (A is no longer published).
      await svc.stop();
      svc = await start(2, { 'signing-b.pem': privateKeyPem() });
      const fetches = await envoy.stat('cluster.authjwt_jwks.upstream_rq_200');
      await waitFor(async () => (await envoy.stat('cluster.authjwt_jwks.upstream_rq_200')) > fetches + 1, {
        what: 'Envoy refetching the JWKS without key A',
        timeout: 10_000,
      });
      assert.equal(await call(unseen), 401, 'a token signed by the removed key that Envoy never verified');
      assert.equal(await call(seen), 200, 'the token Envoy verified before the removal: served from jwt_cache_config until exp');
      assert.ok((await envoy.stat('http.api.jwt_authn.jwt_cache_hit')) > 0, 'a cache hit');
    } finally {
      await envoy.stop();
      await svc.stop();
      await upstream.close();
      await gh.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The text of one lb_endpoint in deploy/envoy/ext-authz.yaml. */
const endpoint = (address: string, port: number) =>
  `              - endpoint:\n                  address:\n                    socket_address: { address: ${address}, port_value: ${port} }`;

/** Successful requests per cluster and upstream port, from Envoy's admin `/clusters`. */
async function servedByHost(envoy: EnvoyGateway): Promise<Record<string, Record<number, number>>> {
  const out: Record<string, Record<number, number>> = {};
  const text = await (await fetch(`${envoy.adminUrl}/clusters`)).text();
  for (const m of text.matchAll(/^(\w+)::127\.0\.0\.1:(\d+)::rq_success::(\d+)$/gm)) {
    const cluster = out[m[1]!] ?? {};
    cluster[Number(m[2])] = Number(m[3]);
    out[m[1]!] = cluster;
  }
  return out;
}

/** GET through Envoy with a provider token; status and body. */
function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { authorization: `Bearer ${token}`, 'x-authjwt-provider': 'github' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
