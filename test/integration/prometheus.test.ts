/**
 * The monitoring mixin against a real Prometheus on a real clock: Prometheus (loopback, temp TSDB)
 * scrapes authjwt every second with the production rules of monitoring/ loaded, while traffic runs at
 * every door — GetJWT, Envoy ext_authz, forward-auth, the RFC 8693 token endpoint — with ok,
 * unauthenticated, invalid_argument, permission_denied (a policy rule), unavailable (FAKE GitHub faults:
 * GitHub itself cannot run here), verification and minted-token cache hits through a real OIDC
 * provider. Then EVERY dashboard panel query returns data for every door, the deprecated GetJWT metrics
 * equal the door histogram, every metric the rules name exists, the rules evaluate without error, and
 * the alerts the traffic should trip are active. (Alerts fired end to end through Alertmanager, on a
 * scaled clock: alerts.test.ts; promtool and the generated files: monitoring.test.ts.)
 *
 * Needs `prometheus` (Debian: `apt-get install -y --no-install-recommends prometheus`, or
 * `eval "$(bash .ci/tools.sh)"`; or PROMETHEUS_BIN). Missing: skipped with a loud message, or FAILS
 * when CI is set.
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { MONITORING_FILES, type RuleGroup } from '../../scripts/gen-monitoring.ts';
import { loadExtAuthzPackage } from '../../src/grpc/proto.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { INTROSPECTION_CLIENT, startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';
import { requirePrerequisite } from '../helpers/prerequisite.ts';
import {
  dashboardQueries,
  metricNames,
  missingTools,
  PROMETHEUS,
  startPrometheus,
  substituteGrafanaVariables,
  type RunningPrometheus,
} from '../helpers/prometheus.ts';

/** What the dashboard's `$__rate_interval` becomes in the test queries. */
const RATE_INTERVAL = '30s';
const TRAFFIC_MS = 12_000;
const MAX_BATCHES = 400;
const DOORS = ['getjwt', 'ext_authz', 'forward_auth', 'token_endpoint'] as const;

const MISSING = missingTools([PROMETHEUS]);
/** Skips (locally) or fails (CI set) when Prometheus is missing; true when the test may run. */
const requireTools = (t: { skip(message?: string): void }) => requirePrerequisite(t, 'test/integration/prometheus.test.ts', MISSING);

describe('a real Prometheus scraping authjwt under traffic at every door, with the rules of monitoring/', { timeout: 90_000 }, () => {
  let gh: FakeGitHub | undefined;
  let op: OidcTestProvider | undefined;
  let svc: RunningAuthJwt | undefined;
  let prom: RunningPrometheus | undefined;
  let work: string | undefined;
  let extAuthz: any;
  /** Requests sent by the traffic phase, by door and result. */
  const sent = new Map<string, number>();

  before(async () => {
    if (MISSING) return;
    gh = await startFakeGitHub();
    gh.issue('gho_octocat', { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat@github.example' }, 'Iv1.ourapp');
    gh.issue('gho_mallory', { id: 666, login: 'mallory', name: null, email: null }, 'Iv1.ourapp');
    op = await startOidcProvider();
    svc = await startAuthJwt(
      {
        edge: { extAuthz: { enabled: true }, forwardAuth: { enabled: true } },
        tokenEndpoint: { enabled: true },
        providers: [
          fakeGitHubProvider(gh, { timeout: '1s', allow: [{ name: 'not-mallory', expression: 'claims.login != "mallory"' }] }),
          {
            id: 'op',
            type: 'oidc',
            issuer: op.issuer,
            audiences: ['frontend'],
            verification: 'auto',
            clientId: INTROSPECTION_CLIENT.id,
            clientSecret: INTROSPECTION_CLIENT.secret,
          },
        ],
      },
      // Thousands of calls: keep their log lines out of memory.
      { logger: createLogger({ level: 'silent' }) },
    );
    extAuthz = new (
      loadPackageDefinition(loadExtAuthzPackage({ defaults: true })) as unknown as {
        envoy: { service: { auth: { v3: { Authorization: new (address: string, creds: unknown) => unknown } } } };
      }
    ).envoy.service.auth.v3.Authorization(`127.0.0.1:${svc.app.grpcPort}`, credentials.createInsecure());
    work = await mkdtemp(join(tmpdir(), 'authjwt-prometheus-'));
    prom = await startPrometheus(work, {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [MONITORING_FILES.rules, MONITORING_FILES.alerts],
      scrape_configs: [{ job_name: 'authjwt', static_configs: [{ targets: [`127.0.0.1:${svc.app.httpPort}`] }] }],
    });
    await prom.waitFor(
      'the first successful scrape of authjwt',
      10_000,
      async () => (await prom!.query('up{job="authjwt"} == 1')).length === 1,
    );
  });

  after(async () => {
    extAuthz?.close();
    await prom?.stop();
    await svc?.stop();
    await op?.close();
    await gh?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('drives bounded traffic at every door: ok, unauthenticated, invalid_argument, permission_denied, unavailable, cache hits', async (t) => {
    if (!requireTools(t)) return;
    const s = svc!;
    const alice = USERS.alice!;
    const jwt = await op!.jwtToken(alice); // repeated: one miss, then cache hits
    const opaque = await op!.opaqueToken(alice); // introspection on every call (no cacheTtl)
    const count = (door: string, result: string) => sent.set(`${door} ${result}`, (sent.get(`${door} ${result}`) ?? 0) + 1);
    const OUTCOME: Partial<Record<number, string>> = { [status.OK]: 'ok', [status.INVALID_ARGUMENT]: 'invalid_argument' };
    const getJwt = async (account: Parameters<RunningAuthJwt['getJwt']>[0]) => {
      const res = await s.getJwt(account, { deadlineMs: 5_000 });
      count('getjwt', OUTCOME[res.code] ?? `code ${res.code}`);
    };
    const github = (token: string, id = '583231') =>
      getJwt({ provider: 'github', type: 'oauth', providerAccountId: id, accessToken: token });
    const oidc = (token: string) => getJwt({ provider: 'op', type: 'oidc', providerAccountId: alice.sub, accessToken: token });
    const check = (token: string | undefined) =>
      new Promise<void>((resolve) => {
        const headers = token ? { authorization: `Bearer ${token}`, 'x-authjwt-provider': 'github' } : {};
        const req = { attributes: { request: { http: { method: 'GET', host: 'app.test', path: '/', headers } } } };
        extAuthz.Check(
          req,
          new Metadata(),
          { deadline: Date.now() + 5_000 },
          (err: ServiceError | null, res: { status: { code: number } }) => {
            count('ext_authz', err ? `grpc ${err.code}` : `check ${res.status.code}`);
            resolve();
          },
        );
      });
    const internal = `http://127.0.0.1:${s.app.internalHttpPort}`;
    const forwardAuth = async (token: string | undefined) => {
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}`, 'x-authjwt-provider': 'github' } : {};
      count('forward_auth', `http ${(await fetch(`${internal}/forward-auth`, { headers })).status}`);
    };
    const tokenEndpoint = async (token: string, issuer: string) => {
      const body = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: token,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        subject_issuer: issuer,
      });
      const res = await fetch(`${internal}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      await res.arrayBuffer();
      count('token_endpoint', `http ${res.status}`);
    };

    const started = Date.now();
    let batches = 0;
    const faultBatches = { '500': 0, slow: 0 };
    while (Date.now() - started < TRAFFIC_MS && batches < MAX_BATCHES) {
      batches++;
      const elapsed = Date.now() - started;
      // 0-4 s healthy; 4-7 s GitHub answers 500; 7-8.5 s GitHub hangs (1 s provider timeout); then
      // healthy. Each fault phase gets at least one batch even on a slow machine.
      gh!.mode =
        elapsed < 4_000
          ? 'ok'
          : elapsed < 7_000 || faultBatches['500'] === 0
            ? '500'
            : elapsed < 8_500 || faultBatches.slow === 0
              ? 'slow'
              : 'ok';
      if (gh!.mode !== 'ok') faultBatches[gh!.mode as '500' | 'slow']++;
      await Promise.all([
        github('gho_octocat'),
        github('gho_nobody'), // GitHub: 401 Bad credentials → unauthenticated
        github('gho_mallory', '666'), // the policy rule not-mallory → permission_denied
        getJwt({ provider: 'nope', type: 'oauth', providerAccountId: '1', accessToken: 'x' }), // _unknown → invalid_argument
        oidc(jwt),
        oidc(opaque),
        check('gho_octocat'),
        check(batches % 4 === 0 ? undefined : jwt), // the JWT's iss chooses op; now and then no token
        forwardAuth(jwt),
        forwardAuth(batches % 4 === 0 ? 'gho_mallory' : 'gho_octocat'),
        tokenEndpoint(jwt, op!.issuer),
        tokenEndpoint('gho_octocat', 'github'),
      ]);
      // Now and then a fresh JWT twice at once: a miss and (usually) a shared in-flight verification.
      if (batches % 20 === 1) {
        const fresh = await op!.jwtToken(alice);
        await Promise.all([oidc(fresh), oidc(fresh)]);
      }
      await sleep(40);
    }
    gh!.mode = 'ok';
    t.diagnostic(`${batches} batches in ${Date.now() - started} ms: ${JSON.stringify(Object.fromEntries(sent))}`);
    for (const key of [
      'getjwt ok',
      'getjwt invalid_argument',
      'ext_authz check 0',
      'ext_authz check 16',
      'forward_auth http 200',
      'token_endpoint http 200',
    ])
      assert.ok((sent.get(key) ?? 0) > 0, `no ${key}`);
    for (const key of ['getjwt code 7', 'getjwt code 14', 'forward_auth http 403', 'forward_auth http 503'])
      assert.ok((sent.get(key) ?? 0) > 0, `no ${key}`);

    // Prometheus has scraped everything that was sent, door by door.
    await prom!.waitFor('Prometheus to scrape the final counters', 10_000, async () => {
      const r = await prom!.query('sum by (door) (authjwt_exchange_duration_seconds_count{job="authjwt"})');
      const seen = new Map(r.map((x) => [x.metric.door!, Number(x.value[1])]));
      return DOORS.every((d) => seen.get(d) === [...sent].filter(([k]) => k.startsWith(`${d} `)).reduce((n, [, c]) => n + c, 0));
    });
  });

  it('every dashboard panel query returns data, the per-door ones for every door', async (t) => {
    if (!requireTools(t)) return;
    assert.ok(sent.size > 0, 'traffic ran');
    const dashboard = JSON.parse(await readFile(MONITORING_FILES.dashboard, 'utf8')) as {
      schemaVersion: number;
      panels: { type: string; title: string; repeat?: string; targets?: { expr?: string; refId?: string }[] }[];
      templating: { list: { name: string }[] };
    };
    assert.ok(dashboard.schemaVersion >= 36, 'schemaVersion');
    assert.deepEqual(
      dashboard.templating.list.map((v) => v.name),
      ['datasource', 'door', 'provider'],
    );
    assert.deepEqual(
      dashboard.panels.filter((p) => p.repeat).map((p) => [p.type, p.title, p.repeat]),
      [['row', 'Door: $door', 'door']],
      'a row per door, repeated by the door variable',
    );
    const panelSources = JSON.stringify(dashboard.panels).match(/"uid":"[^"]*"/g) ?? [];
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax, not a template literal
    assert.deepEqual([...new Set(panelSources)], ['"uid":"${datasource}"'], 'every panel and target uses the ${datasource} variable');
    const queries = dashboardQueries(dashboard);
    assert.ok(queries.length >= 30, `expected the panels the dashboard documents, got ${queries.length} queries`);
    const empty: string[] = [];
    for (const q of queries) {
      for (const [, range] of q.expr.matchAll(/\[([^\]]*)\]/g))
        assert.equal(range, '$__rate_interval', `${q.panel} ${q.refId}: range selectors must use $__rate_interval`);
      for (const door of /\$\{?door\b/.test(q.expr) ? DOORS : ['.*']) {
        const expr = substituteGrafanaVariables(q.expr, { door, provider: '.*' }, RATE_INTERVAL);
        assert.ok(!expr.includes('$'), `${q.panel} ${q.refId}: unsubstituted variable in ${expr}`);
        if ((await prom!.query(expr)).length === 0) empty.push(`${q.panel} [${q.refId}] door=${door}: ${expr}`);
      }
    }
    assert.deepEqual(empty, [], `panel queries with no data:\n${empty.join('\n')}`);

    // A few values the traffic determines.
    const byLabel = async (expr: string, label: string) =>
      new Map((await prom!.query(expr)).map((x) => [x.metric[label]!, Number(x.value[1])]));
    const hitRatio = await byLabel(
      'sum by (provider) (increase(authjwt_verification_cache_requests_total{result=~"hit|shared"}[1m])) / sum by (provider) (increase(authjwt_verification_cache_requests_total[1m]))',
      'provider',
    );
    assert.ok(hitRatio.get('op')! > 0.2, `verification cache hit ratio for op: ${hitRatio.get('op')}`);
    const minted = await byLabel('sum by (result) (authjwt_minted_token_cache_requests_total)', 'result');
    assert.ok(
      minted.get('hit')! > minted.get('miss')!,
      `the edge doors reuse minted tokens: ${JSON.stringify(Object.fromEntries(minted))}`,
    );
    const denials = await byLabel('sum by (rule) (authjwt_policy_decisions_total{provider="github",decision="denied"})', 'rule');
    assert.ok(denials.get('not-mallory')! > 0, 'policy denials by rule');
    const refused = await byLabel('sum by (door) (authjwt_requests_refused_total{reason="no_token"})', 'door');
    assert.ok(refused.get('ext_authz')! > 0, 'ext_authz requests without a token are refused before the exchange');
    const failures = await byLabel('sum by (result) (authjwt_provider_requests_total{provider="github"})', 'result');
    assert.ok(
      failures.get('5xx')! > 0 && failures.get('timeout')! > 0 && failures.get('4xx')! > 0,
      JSON.stringify(Object.fromEntries(failures)),
    );
  });

  it('the deprecated GetJWT metrics hold the same values as the door histogram at door="getjwt"', async (t) => {
    if (!requireTools(t)) return;
    const pairs = [
      ['authjwt_getjwt_requests_total', 'authjwt_exchange_duration_seconds_count{door="getjwt"}'],
      ['authjwt_getjwt_duration_seconds_count', 'authjwt_exchange_duration_seconds_count{door="getjwt"}'],
      ['authjwt_getjwt_duration_seconds_bucket', 'authjwt_exchange_duration_seconds_bucket{door="getjwt"}'],
    ] as const;
    for (const [old, current] of pairs) {
      const key = (m: Record<string, string>) => `${m.provider} ${m.outcome} ${m.le ?? ''}`;
      const a = new Map((await prom!.query(old)).map((x) => [key(x.metric), x.value[1]]));
      const b = new Map((await prom!.query(current)).map((x) => [key(x.metric), x.value[1]]));
      // The old counter is at 0 for every configured provider and outcome; the histogram has series for what happened.
      for (const [k, v] of b) assert.equal(a.get(k), v, `${old} ${k}`);
      for (const [k, v] of a) if (!b.has(k)) assert.equal(v, '0', `${old} ${k}: no door series, so 0`);
      assert.ok(b.size > 3, `${current}: ${b.size} series`);
    }
  });

  it('the rules load and evaluate without errors; every metric they name exists; the traffic trips the expected alerts', async (t) => {
    if (!requireTools(t)) return;
    const fileGroups = [MONITORING_FILES.rules, MONITORING_FILES.alerts].flatMap(
      (f) => (parseYaml(readFileSync(f, 'utf8')) as { groups: RuleGroup[] }).groups,
    );
    type LoadedRule = { name: string; type: string; health: string; lastError?: string; query: string };
    let loaded: { name: string; rules: LoadedRule[] }[] = [];
    await prom!.waitFor('every rule to be evaluated', 10_000, async () => {
      loaded = ((await prom!.api('/api/v1/rules')) as { groups: { name: string; rules: LoadedRule[] }[] }).groups;
      return loaded.length > 0 && loaded.every((g) => g.rules.every((r) => r.health !== 'unknown'));
    });
    assert.deepEqual(loaded.map((g) => g.name).sort(), fileGroups.map((g) => g.name).sort());
    assert.equal(loaded.flatMap((g) => g.rules).length, fileGroups.flatMap((g) => g.rules).length);
    for (const r of loaded.flatMap((g) => g.rules)) assert.equal(r.health, 'ok', `rule ${r.name}: health ${r.health} ${r.lastError ?? ''}`);

    // Catch a typo in a metric name that promtool's unit tests (synthetic series) cannot.
    const names = new Set(fileGroups.flatMap((g) => g.rules).flatMap((r) => metricNames(r.expr)));
    assert.ok(names.has('authjwt_exchange_duration_seconds_count') && names.has('slo:sli_error:ratio_rate5m'), [...names].join(' '));
    // Series of optional features this setup does not enable (private_key_jwt clients: issue 21's replay cache).
    const optional = new Set(['authjwt_replay_cache_up']);
    for (const name of [...names].filter((n) => !optional.has(n)))
      assert.ok((await prom!.query(`count({__name__="${name}"})`)).length > 0, `the rules reference ${name}, which has no series`);
    // Sloth's SLO series per door, budget remaining included.
    const budget = await prom!.query('slo:period_error_budget_remaining:ratio{sloth_service="authjwt"}');
    assert.deepEqual(
      [...new Set(budget.map((b) => `${b.metric.sloth_slo} ${b.metric.door}`))].sort(),
      DOORS.flatMap((d) => [`availability ${d}`, `latency ${d}`]).sort(),
    );

    // github answered UNAVAILABLE for a few seconds out of ~15 and _unknown is all invalid_argument: the
    // 5m-window ratios are far above the thresholds, so these alerts are pending (their `for` has not
    // elapsed); Sloth's burn-rate alerts have no `for` and fire for GetJWT at once.
    const active = async () =>
      ((await prom!.api('/api/v1/alerts')) as { alerts: { labels: Record<string, string>; state: string }[] }).alerts.map(
        (a) => `${a.labels.alertname}/${a.labels.door ?? ''}/${a.labels.provider ?? ''}/${a.state}`,
      );
    await prom!.waitFor('ProviderUnavailable, HighErrorRatio pending and the GetJWT availability burn firing', 5_000, async () => {
      const a = await active();
      return (
        a.includes('AuthJwtProviderUnavailable//github/pending') &&
        a.includes('AuthJwtHighErrorRatio/getjwt/_unknown/pending') &&
        a.includes('AuthJwtAvailabilitySLOBurn/getjwt//firing')
      );
    });
    const a = await active();
    for (const healthy of [
      'AuthJwtDown',
      'AuthJwtNoSigningKey',
      'AuthJwtJwksEmpty',
      'AuthJwtKeyReloadFailing',
      'AuthJwtSigningKeyTooOld',
      'AuthJwtInternalErrors',
      'AuthJwtPolicyRuleErrors',
    ])
      assert.ok(!a.some((x) => x.startsWith(`${healthy}/`)), `${healthy} should not be active: ${a.join(', ')}`);
    assert.ok(!a.some((x) => x.startsWith('AuthJwtProviderUnavailable//op/')), `op never failed: ${a.join(', ')}`);
  });
});
