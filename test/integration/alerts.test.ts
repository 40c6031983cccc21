/**
 * The alerts, end to end (issue 23): a REAL Prometheus scrapes three REAL authjwt processes (every door
 * enabled: GetJWT, ext_authz, forward-auth, the token endpoint) under scripted load, with the rules of
 * monitoring/ loaded, and sends to a REAL Alertmanager, which notifies a webhook served by this test.
 * Each failure class is induced for real, on its own authjwt (its own scrape job), all at once:
 *
 *   authjwt-provider-down   the provider (a FAKE GitHub API: GitHub itself cannot run here) answers 500
 *                           → AuthJwtProviderUnavailable + AuthJwtAvailabilitySLOBurn (page and ticket) at every door
 *   authjwt-slow-provider   400 ms injected at the provider → AuthJwtLatencySLOBurn (page and ticket) at every door
 *   authjwt-keys-removed    the signing key removed from the Secret (the other key waits for its
 *                           Not-Before), then a new replica starts (a rollout, a rescheduled pod)
 *                           → AuthJwtNoSigningKey for the new replica, and nothing else: it is not
 *                           ready, so it gets no traffic, and the running replica keeps signing with
 *                           the removed key while tokens it signed are alive (src/keys/key-store.ts)
 *
 * and the test checks that EXACTLY these alerts reach the webhook, with their labels and runbook links
 * (anchors that exist in docs/runbooks.md), nothing before the faults, and that every one of them is
 * resolved after the faults end. Then every dashboard query returns data for every door.
 *
 * Time: the rules are the generated production files with every duration divided by 300
 * (scripts/gen-monitoring.ts timeScaledRules: 5m → 1s, 1h → 12s, 6h → 72s, 3d → 14m24s, `for: 5m` →
 * 1s), scraped and evaluated every 250 ms (75 s in production terms). Burn rates and ratios are
 * dimensionless, so the scaled rules fire and resolve where the production ones would on a signal 300×
 * slower. What does not scale is the request rate: a 1 s window holds ~10 requests where a production
 * 5 m window holds thousands, so healthy traffic here has no server-side failure and no slow request,
 * and the faults are total, keeping every ratio far from its threshold. About 2.5 minutes, most of it
 * waiting for the tickets to resolve (their 6 h window is 72 s here).
 */
import { credentials, loadPackageDefinition, Metadata, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { MONITORING_FILES, timeScaledRules, type RuleGroup } from '../../scripts/gen-monitoring.ts';
import type { AuthAPIClient } from '../../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto, loadExtAuthzPackage } from '../../src/grpc/proto.ts';
import { REPO_ROOT, startAuthJwtProcess, type AuthJwtProcess } from '../helpers/authjwt-process.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { freePort, listenOnLoopback, type LoopbackServer } from '../helpers/net.ts';
import { requirePrerequisite } from '../helpers/prerequisite.ts';
import {
  ALERTMANAGER,
  dashboardQueries,
  markdownAnchors,
  metricNames,
  missingTools,
  PROMETHEUS,
  startAlertmanager,
  startPrometheus,
  substituteGrafanaVariables,
  type RunningPrometheus,
} from '../helpers/prometheus.ts';
import { privateKeyPem, writeSecretRevision } from '../helpers/secret-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const FACTOR = 300;
const SCRAPE = '250ms';
const DOORS = ['getjwt', 'ext_authz', 'forward_auth', 'token_endpoint'] as const;
/** Healthy load before the faults: longer than the scaled 1 h window (12 s), so every window holds good traffic. */
const BASELINE_MS = 15_000;
/** One request per door and instance every LOAD_EVERY_MS (10/s), at most MAX_IN_FLIGHT outstanding. */
const LOAD_EVERY_MS = 100;
const MAX_IN_FLIGHT = 16;
const TOKEN = 'gho_e2e_octocat';
const MALLORY = 'gho_e2e_mallory';
const octocat = { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat@github.example' };

const MISSING = missingTools([PROMETHEUS, ALERTMANAGER]);
const requireTools = (t: { skip(message?: string): void }) => requirePrerequisite(t, 'test/integration/alerts.test.ts', MISSING);

type Fault = 'provider-down' | 'slow-provider' | 'keys-removed';
interface Instance {
  fault: Fault;
  job: string;
  gh: FakeGitHub;
  keysDir: string;
  keys: { current: string; waiting: string };
  ports: { grpc: number; http: number; internal: number };
  /** Its config, for another replica (`listen` addresses replaced). */
  config: Record<string, unknown>;
  proc: AuthJwtProcess;
  client: AuthAPIClient;
  extAuthz: any;
  /** Requests sent and their results, by door (diagnostics). */
  results: Map<string, Map<string, number>>;
}

interface Notification {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** An alert's identity in this test: name, job and the labels that tell its instances apart. */
const identity = (l: Record<string, string>) =>
  [l.alertname, l.job ?? '', l.door ?? '', l.provider ?? '', l.severity ?? '', l.sloth_severity ?? ''].join(' | ');

function expectedAlerts(instances: readonly Instance[]): Set<string> {
  const out = new Set<string>();
  const slo = (name: string, job: string, doors: readonly string[]) => {
    for (const door of doors) {
      out.add(identity({ alertname: name, job, door, severity: 'critical', sloth_severity: 'page' }));
      out.add(identity({ alertname: name, job, door, severity: 'warning', sloth_severity: 'ticket' }));
    }
  };
  for (const i of instances) {
    if (i.fault === 'provider-down') {
      out.add(identity({ alertname: 'AuthJwtProviderUnavailable', job: i.job, provider: 'github', severity: 'critical' }));
      slo('AuthJwtAvailabilitySLOBurn', i.job, DOORS);
    } else if (i.fault === 'slow-provider') {
      slo('AuthJwtLatencySLOBurn', i.job, DOORS);
    } else {
      out.add(identity({ alertname: 'AuthJwtNoSigningKey', job: i.job, severity: 'critical' }));
    }
  }
  return out;
}

describe('alerts end to end: Prometheus + Alertmanager + authjwt under load, each failure class induced for real', {
  timeout: 360_000,
}, () => {
  let work: string | undefined;
  const instances: Instance[] = [];
  let prom: RunningPrometheus | undefined;
  let am: Awaited<ReturnType<typeof startAlertmanager>> | undefined;
  let webhook: LoopbackServer | undefined;
  const notifications: (Notification & { at: number })[] = [];
  let loadTimer: NodeJS.Timeout | undefined;
  let faultsAt = 0;
  let faultsEndedAt = 0;
  /** The replica started after the key was removed, and the file_sd targets of the keys job. */
  let replica: { proc: AuthJwtProcess; http: number } | undefined;
  let keysTargets = '';

  before(async () => {
    if (MISSING) return;
    work = mkdtempSync(join(tmpdir(), 'authjwt-alerts-'));

    // The webhook Alertmanager notifies.
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        for (const a of (JSON.parse(body) as { alerts: Notification[] }).alerts) notifications.push({ ...a, at: Date.now() });
        res.writeHead(200).end();
      });
    });
    webhook = await listenOnLoopback(server);

    for (const fault of ['provider-down', 'slow-provider', 'keys-removed'] as const) {
      const gh = await startFakeGitHub();
      gh.issue(TOKEN, octocat, 'Iv1.e2e');
      gh.issue(MALLORY, { id: 666, login: 'mallory', name: null, email: null }, 'Iv1.e2e');
      const keysDir = join(work, `keys-${fault}`);
      mkdirSync(keysDir);
      // The key that signs, and one published ahead of a rotation (Not-Before tomorrow).
      const keys = { current: privateKeyPem(), waiting: `Not-Before: ${Math.floor(Date.now() / 1000) + 86_400}\n${privateKeyPem()}` };
      writeSecretRevision(keysDir, { 'current.pem': keys.current, 'next.pem': keys.waiting }, 1);
      const ports = { grpc: await freePort(), http: await freePort(), internal: await freePort() };
      const config = {
        issuer: `http://127.0.0.1:${ports.http}`,
        audience: ['internal-services'],
        logging: { level: 'warn' },
        keys: { dir: keysDir, publishLeadTime: '0s', reloadInterval: '500ms' },
        grpc: { listen: `127.0.0.1:${ports.grpc}`, plaintext: true },
        http: { listen: `127.0.0.1:${ports.http}` },
        internalHttp: { listen: `127.0.0.1:${ports.internal}` },
        edge: { extAuthz: { enabled: true }, forwardAuth: { enabled: true } },
        tokenEndpoint: { enabled: true },
        providers: [
          fakeGitHubProvider(gh, {
            timeout: '2s',
            retries: 0,
            circuitBreaker: { openFor: '1s' },
            allow: [{ name: 'not-mallory', expression: 'claims.login != "mallory"' }],
          }),
        ],
      };
      const proc = startAuthJwtProcess(stringifyYaml(config));
      instances.push({
        fault,
        job: `authjwt-${fault}`,
        gh,
        keysDir,
        keys,
        ports,
        config,
        proc,
        client: new (loadAuthProto().auth.v1alpha1.AuthAPI)(`127.0.0.1:${ports.grpc}`, credentials.createInsecure()) as AuthAPIClient,
        extAuthz: new (
          loadPackageDefinition(loadExtAuthzPackage({ defaults: true })) as unknown as {
            envoy: { service: { auth: { v3: { Authorization: new (address: string, creds: unknown) => unknown } } } };
          }
        ).envoy.service.auth.v3.Authorization(`127.0.0.1:${ports.grpc}`, credentials.createInsecure()),
        results: new Map(DOORS.map((d) => [d, new Map()])),
      });
    }
    // Ready (HTTP /readyz 200): listeners up and a key that signs. Logs at warn: no start line to wait for.
    await Promise.all(
      instances.map((i) =>
        waitFor(
          () =>
            fetch(`http://127.0.0.1:${i.ports.http}/readyz`).then(
              (r) => r.ok,
              () => (i.proc.alive() ? false : assert.fail(i.proc.stderr())),
            ),
          {
            what: `${i.job} ready`,
            timeout: 30_000,
            interval: 100,
          },
        ),
      ),
    );

    // Warm-up before the first scrape: the first requests of a fresh process are slow (module and key
    // loading, JIT); a production window holds far too many requests for them to matter, the scaled
    // one does not, so Prometheus starts counting after them.
    for (const i of instances) for (const door of DOORS) for (let n = 0; n < 20; n++) await send(i, door, 0);

    am = await startAlertmanager(join(work, 'alertmanager'), {
      route: { receiver: 'webhook', group_by: ['...'], group_wait: '500ms', group_interval: '1s', repeat_interval: '1h' },
      receivers: [{ name: 'webhook', webhook_configs: [{ url: `${webhook.url}/alerts`, send_resolved: true }] }],
    });

    keysTargets = join(work, 'keys-targets.json');
    writeTargets(keysTargets, [`127.0.0.1:${instances.find((i) => i.fault === 'keys-removed')!.ports.http}`]);

    // The test-only variant: the generated production rules, every duration divided by FACTOR.
    const groups = ['rules', 'alerts'].flatMap(
      (f) => (parseYaml(readFileSync(MONITORING_FILES[f as 'rules' | 'alerts'], 'utf8')) as { groups: RuleGroup[] }).groups,
    );
    const rulesFile = join(work, 'authjwt-rules.scaled.yaml');
    writeFileSync(rulesFile, stringifyYaml({ groups: timeScaledRules(groups, FACTOR) }, { lineWidth: 0 }));
    prom = await startPrometheus(
      join(work, 'prometheus'),
      {
        global: { scrape_interval: SCRAPE, scrape_timeout: SCRAPE, evaluation_interval: SCRAPE },
        rule_files: [rulesFile],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [am.url.replace('http://', '')] }] }] },
        // The keys job by file_sd: the replica started later joins it like a new pod (the file is watched).
        scrape_configs: instances.map((i) =>
          i.fault === 'keys-removed'
            ? { job_name: i.job, file_sd_configs: [{ files: [keysTargets], refresh_interval: '1s' }] }
            : { job_name: i.job, static_configs: [{ targets: [`127.0.0.1:${i.ports.http}`] }] },
        ),
      },
      ['--rules.alert.resend-delay=1s'],
    );
  });

  after(async () => {
    clearInterval(loadTimer);
    await prom?.stop();
    await am?.stop();
    await replica?.proc.stop();
    for (const i of instances) {
      i.client.close();
      i.extAuthz.close();
      await i.proc.stop();
      await i.gh.close();
    }
    await webhook?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** One request at `door` of `i` (every fifth ext_authz request is mallory's, denied by policy; every tenth forward-auth one has no token). */
  const send = (i: Instance, door: (typeof DOORS)[number], n: number): Promise<string> => {
    const internal = `http://127.0.0.1:${i.ports.internal}`;
    const deadline = Date.now() + 5_000;
    switch (door) {
      case 'getjwt':
        return new Promise((resolve) =>
          i.client.GetJWT(
            { account: { provider: 'github', type: 'oauth', providerAccountId: String(octocat.id), accessToken: TOKEN } },
            new Metadata(),
            { deadline },
            (err) => resolve(err ? `grpc ${(err as ServiceError).code}` : 'ok'),
          ),
        );
      case 'ext_authz': {
        const token = n % 5 === 4 ? MALLORY : TOKEN;
        const headers = { authorization: `Bearer ${token}`, 'x-authjwt-provider': 'github' };
        const request = { attributes: { request: { http: { method: 'GET', host: 'app.test', path: '/orders', headers } } } };
        return new Promise((resolve) =>
          i.extAuthz.Check(request, new Metadata(), { deadline }, (err: ServiceError | null, res: { status: { code: number } }) =>
            resolve(err ? `grpc ${err.code}` : `check ${res.status.code}`),
          ),
        );
      }
      case 'forward_auth': {
        const headers: Record<string, string> = n % 10 === 9 ? {} : { authorization: `Bearer ${TOKEN}`, 'x-authjwt-provider': 'github' };
        return fetch(`${internal}/forward-auth`, { headers, signal: AbortSignal.timeout(5_000) }).then(
          (r) => `http ${r.status}`,
          (e: Error) => `error ${e.name}`,
        );
      }
      case 'token_endpoint':
        return fetch(`${internal}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token: TOKEN,
            subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
            subject_issuer: 'github',
          }),
          signal: AbortSignal.timeout(5_000),
        }).then(
          (r) => `http ${r.status}`,
          (e: Error) => `error ${e.name}`,
        );
    }
  };

  const startLoad = () => {
    let n = 0;
    const inFlight = new Map<string, number>();
    loadTimer = setInterval(() => {
      n++;
      for (const i of instances)
        for (const door of DOORS) {
          const key = `${i.job}/${door}`;
          if ((inFlight.get(key) ?? 0) >= MAX_IN_FLIGHT) continue;
          inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
          void send(i, door, n).then((result) => {
            inFlight.set(key, inFlight.get(key)! - 1);
            const byResult = i.results.get(door)!;
            byResult.set(result, (byResult.get(result) ?? 0) + 1);
          });
        }
    }, LOAD_EVERY_MS);
  };

  const received = (status: 'firing' | 'resolved', since = 0) =>
    new Set(notifications.filter((n) => n.status === status && n.at >= since).map((n) => identity(n.labels)));
  const diagnostics = () =>
    [
      `notifications: ${notifications.map((n) => `${(n.at - faultsAt) / 1000}s ${n.status} ${identity(n.labels)}`).join('\n  ')}`,
      ...instances.map(
        (i) => `${i.job}: ${JSON.stringify(Object.fromEntries([...i.results].map(([d, m]) => [d, Object.fromEntries(m)])))}`,
      ),
    ].join('\n');

  it('healthy load: every door answers, Prometheus sees every door of every job, and no alert is sent', async (t) => {
    if (!requireTools(t)) return;
    startLoad();
    const started = Date.now();
    await prom!.waitFor('ok requests of every door of every job', 20_000, async () => {
      const r = await prom!.query('sum by (job, door) (authjwt_exchange_duration_seconds_count{outcome="ok"}) > 0');
      return r.length === instances.length * DOORS.length;
    });
    await sleep(Math.max(0, BASELINE_MS - (Date.now() - started)));
    for (const i of instances)
      for (const door of DOORS) {
        const ok = [...i.results.get(door)!].filter(([r]) => /^(ok|check 0|http 200)$/.test(r)).reduce((s, [, c]) => s + c, 0);
        assert.ok(ok > 50, `${i.job} ${door}: ${JSON.stringify(Object.fromEntries(i.results.get(door)!))}`);
      }
    const firing = ((await prom!.api('/api/v1/alerts')) as { alerts: { labels: Record<string, string>; state: string }[] }).alerts;
    assert.deepEqual(
      firing.map((a) => `${a.state} ${identity(a.labels)}`),
      [],
      'no alert is pending or firing under healthy load',
    );
    assert.deepEqual(notifications, [], 'no notification before the faults');
  });

  it('each fault → exactly the expected alerts at the webhook, with labels and runbook links; all resolve after the faults end', async (t) => {
    if (!requireTools(t)) return;
    assert.ok(loadTimer, 'the load runs');
    const expected = expectedAlerts(instances);
    const byFault = (f: Fault) => instances.find((i) => i.fault === f)!;

    faultsAt = Date.now();
    byFault('provider-down').gh.mode = '500';
    byFault('slow-provider').gh.delayMs = 400;
    const keys = byFault('keys-removed');
    writeSecretRevision(keys.keysDir, { 'next.pem': keys.keys.waiting }, 2);
    // A new replica of the keys job starts now, with what the Secret holds.
    const ports = { grpc: await freePort(), http: await freePort(), internal: await freePort() };
    replica = {
      http: ports.http,
      proc: startAuthJwtProcess(
        stringifyYaml({
          ...keys.config,
          grpc: { listen: `127.0.0.1:${ports.grpc}`, plaintext: true },
          http: { listen: `127.0.0.1:${ports.http}` },
          internalHttp: { listen: `127.0.0.1:${ports.internal}` },
        }),
      ),
    };
    await waitFor(
      () =>
        fetch(`http://127.0.0.1:${ports.http}/livez`).then(
          (r) => r.ok,
          () => (replica!.proc.alive() ? false : assert.fail(replica!.proc.stderr())),
        ),
      {
        what: 'the new replica listening',
        timeout: 30_000,
        interval: 100,
      },
    );
    assert.equal((await fetch(`http://127.0.0.1:${ports.http}/readyz`)).status, 503, 'the new replica has no signing key: not ready');
    writeTargets(keysTargets, [`127.0.0.1:${keys.ports.http}`, `127.0.0.1:${ports.http}`]);

    const until = Date.now() + 60_000;
    while (![...expected].every((e) => received('firing').has(e))) {
      if (Date.now() > until) {
        const missing = [...expected].filter((e) => !received('firing').has(e));
        assert.fail(`alerts missing after 60 s:\n  ${missing.join('\n  ')}\n${diagnostics()}`);
      }
      await sleep(250);
    }
    const firedAfterS = (Date.now() - faultsAt) / 1000;
    await sleep(3_000); // anything unexpected would arrive now
    assert.deepEqual([...received('firing')].sort(), [...expected].sort(), `exactly the expected alerts\n${diagnostics()}`);

    // Labels and links of every notification.
    const anchors = markdownAnchors(readFileSync(join(REPO_ROOT, 'docs/runbooks.md'), 'utf8'));
    for (const n of notifications) {
      const { alertname, severity, sloth_severity: sloth } = n.labels;
      assert.equal(n.annotations.runbook_url, `docs/runbooks.md#${alertname!.toLowerCase()}`, identity(n.labels));
      assert.ok(anchors.has(alertname!.toLowerCase()), `docs/runbooks.md has a section ${alertname}`);
      assert.ok(n.annotations.summary && n.annotations.description, `${identity(n.labels)}: summary and description`);
      assert.ok(!/\{\{|<no value>/.test(n.annotations.summary + n.annotations.description), `templates expanded: ${n.annotations.summary}`);
      if (sloth) {
        assert.equal(severity, sloth === 'page' ? 'critical' : 'warning');
        assert.equal(n.labels.sloth_service, 'authjwt');
        assert.match(n.annotations.summary!, new RegExp(`^authjwt: ${n.labels.door} (availability|latency) SLO burning`));
      }
      if (alertname === 'AuthJwtNoSigningKey')
        assert.equal(n.labels.instance, `127.0.0.1:${replica.http}`, 'the new replica, not the running one');
    }

    // The faults end; every alert resolves (the tickets last: their 6 h window is 72 s here).
    faultsEndedAt = Date.now();
    assert.deepEqual([...received('resolved')], [], `nothing resolved while the faults lasted (no flapping)\n${diagnostics()}`);
    byFault('provider-down').gh.mode = 'ok';
    byFault('slow-provider').gh.delayMs = 0;
    writeSecretRevision(keys.keysDir, { 'current.pem': keys.keys.current, 'next.pem': keys.keys.waiting }, 3);
    const resolvedBy = Date.now() + 150_000;
    while (![...expected].every((e) => received('resolved', faultsEndedAt).has(e))) {
      if (Date.now() > resolvedBy) {
        const open = [...expected].filter((e) => !received('resolved', faultsEndedAt).has(e));
        assert.fail(`not resolved 150 s after the faults ended:\n  ${open.join('\n  ')}\n${diagnostics()}`);
      }
      await sleep(500);
    }
    const resolvedAfterS = (Date.now() - faultsEndedAt) / 1000;
    assert.equal((await fetch(`http://127.0.0.1:${replica.http}/readyz`)).status, 200, 'the new replica signs with the restored key');
    assert.deepEqual([...received('firing')].sort(), [...expected].sort(), `no other alert while resolving\n${diagnostics()}`);
    t.diagnostic(
      `all ${expected.size} expected alerts fired within ${firedAfterS} s of the faults and resolved within ${resolvedAfterS} s of their end; ${notifications.length} notifications`,
    );
  });

  it('every PromQL query of docs/runbooks.md evaluates against this Prometheus, and every metric it names has series', async (t) => {
    if (!requireTools(t)) return;
    assert.ok(faultsEndedAt > 0, 'the faults ran');
    const runbooks = readFileSync(join(REPO_ROOT, 'docs/runbooks.md'), 'utf8');
    const queries = [...runbooks.matchAll(/^ *```promql\n([\s\S]*?)^ *```$/gm)].map((m) => m[1]!.trim());
    assert.ok(queries.length >= 11, `a query per runbook at least, found ${queries.length}`);
    // Series of optional features this setup does not enable (private_key_jwt clients).
    const optional = new Set(['authjwt_replay_cache_up']);
    for (const q of queries) {
      await prom!.query(q); // throws unless Prometheus accepts it
      for (const name of metricNames(q).filter((n) => !optional.has(n)))
        assert.ok((await prom!.query(`count({__name__="${name}"})`)).length > 0, `${q}\nnames ${name}, which has no series`);
    }
  });

  it('every dashboard query returns data against this Prometheus, for every door', async (t) => {
    if (!requireTools(t)) return;
    assert.ok(faultsEndedAt > 0, 'the faults ran');
    const dashboard = JSON.parse(readFileSync(MONITORING_FILES.dashboard, 'utf8')) as Parameters<typeof dashboardQueries>[0];
    const empty: string[] = [];
    let runs = 0;
    for (const q of dashboardQueries(dashboard)) {
      const perDoor = /\$\{?door\b/.test(q.expr);
      for (const door of perDoor ? DOORS : ['.*']) {
        const expr = substituteGrafanaVariables(q.expr, { door, provider: '.*' }, '10s');
        runs++;
        if ((await prom!.query(expr)).length === 0) empty.push(`${q.panel} [${q.refId}] door=${door}: ${expr}`);
      }
    }
    assert.deepEqual(empty, [], `panel queries with no data:\n${empty.join('\n')}`);
    t.diagnostic(`${runs} panel queries (the per-door ones once per door) returned data`);
  });
});

/** A Prometheus file_sd targets file, replaced atomically (Prometheus watches it). */
function writeTargets(file: string, targets: string[]): void {
  writeFileSync(`${file}.tmp`, JSON.stringify([{ targets }]));
  renameSync(`${file}.tmp`, file);
}
