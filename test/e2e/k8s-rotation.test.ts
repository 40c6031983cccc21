/**
 * Issue 20 (3): key rotation through the REAL kubelet. Three replicas mount the key Secret; a client pod
 * calls GetJWT through the Service continuously and verifies every token at once against the JWKS it
 * fetches through the Service on a new connection (any replica may answer). The test then follows
 * docs/key-rotation.md with `kubectl apply`:
 *
 *   1. add key B with `Not-Before: now + LEAD` (LEAD = keys.publishLeadTime): the kubelet's atomic update
 *      reaches each pod at its own moment (each logs "signing keys loaded" with B added); every replica
 *      publishes B before ANY signs with it ("signing key changed"), and the client sees B after that;
 *   2. retire key A (the file is removed): each replica reloads; A stays published while its tokens live;
 *   3. write a corrupt key file into the Secret: every replica keeps signing with B, /readyz stays 200
 *      with lastKeyReloadError, authjwt_key_reload_failing is 1 on each pod, and a real Prometheus
 *      scraping the pods with helm/authjwt/files/authjwt-rules.yaml has AuthJwtKeyReloadFailing pending
 *      for each of them; the fix clears the metric.
 *
 * Through all of it: 0 failed calls, 0 tokens that do not verify. The timeline (Secret update → each
 * pod's reload → each pod's first signature with B → the client's first B token) is printed.
 *
 * The kubelet refreshes Secret volumes on its pod sync (the test cluster's kubelet: syncFrequency 10s,
 * so 10–15 s; the default 1m gives 60–90 s in production clusters: docs/key-rotation.md).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startClientPod, startLoad, type LoadSummary } from '../helpers/k8s-cluster.ts';
import { freePort } from '../helpers/net.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';
import { waitFor } from '../helpers/wait-for.ts';
import {
  applyKeySecret,
  applyProviderSecret,
  CHART,
  inPodEnv,
  k8sPrerequisite,
  newSigningKey,
  podHttp,
  podLogs,
  productionLikeValues,
  releasePods,
  startSuite,
  type K8sSuite,
  type LogLine,
  type SigningKey,
} from './k8s/suite.ts';

const WHAT = 'Kubernetes rotation e2e suite';
const skip = k8sPrerequisite(WHAT);
const RULES = new URL('../../helm/authjwt/files/authjwt-rules.yaml', import.meta.url).pathname;
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? 'prometheus';
const LEAD_SECONDS = 30;
const REPLICAS = 3;
const SECRET = 'authjwt-signing-keys';

describe('Kubernetes: Secret rotation through the real kubelet under load (issue 20)', { skip, timeout: 900_000 }, () => {
  let suite: K8sSuite;
  let keyA: SigningKey;
  let keyB: SigningKey;
  const release = 'authjwt';
  let pods: string[] = [];
  let load: ReturnType<typeof startLoad> | undefined;
  let prometheus: { url: string; process: ChildProcess; dir: string } | undefined;
  const timeline: string[] = [];
  let t0 = 0;
  const at = (ms: number) => `+${((ms - t0) / 1000).toFixed(1)}s`;

  before(async () => {
    suite = await startSuite('rotation');
    keyA = await newSigningKey();
    await applyKeySecret(suite.kubectl, suite.namespace, SECRET, { 'signing-a.pem': keyA.pem });
    await applyProviderSecret(suite.kubectl, suite.namespace);
    const values = productionLikeValues(suite, {
      replicaCount: REPLICAS,
      serviceMonitor: { enabled: false },
      prometheusRule: { enabled: false },
      tests: { enabled: false },
    });
    const config = values.config as { providers: Record<string, unknown>[]; [k: string]: unknown };
    // Local JWT verification: the load is on authjwt, not on Keycloak's introspection endpoint.
    const providers = config.providers.map((p) => ({ ...p, strategy: 'jwt', clientId: undefined, clientSecretFile: undefined }));
    values.config = {
      ...config,
      providers,
      tokenTtl: '20s',
      mintedTokens: { refreshMargin: '5s' },
      keys: { publishLeadTime: `${LEAD_SECONDS}s` },
    };
    values.providerSecrets = [];
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-k8s-values-'));
    writeFileSync(join(dir, 'values.yaml'), stringify(values));
    await suite.helm(['install', release, CHART, '-n', suite.namespace, '-f', join(dir, 'values.yaml'), '--wait', '--timeout', '5m']);
    rmSync(dir, { recursive: true, force: true });
    pods = (await releasePods(suite.kubectl, suite.namespace, release)).map((p) => p.name);
    assert.equal(pods.length, REPLICAS);
    await startClientPod(suite.kubectl, suite.cluster, suite.namespace, 'load', inPodEnv(suite, release));
  });

  after(async () => {
    if (load) await load.stop().catch(() => undefined);
    if (prometheus) {
      prometheus.process.kill('SIGTERM');
      rmSync(prometheus.dir, { recursive: true, force: true });
    }
    if (timeline.length) console.log(`# rotation timeline (t=0: key B added to the Secret)\n${timeline.map((l) => `#   ${l}`).join('\n')}`);
    await suite?.close();
  });

  /** Each pod's first log line matching `match` (waits until every pod has one). */
  const eachPodLogs = (what: string, match: (line: LogLine) => boolean, timeout = 120_000) =>
    waitFor(
      async () => {
        const found = await Promise.all(
          pods.map(async (pod) => ({ pod, line: (await podLogs(suite.kubectl, suite.namespace, pod)).find(match) })),
        );
        return found.every((f) => f.line) ? (found as { pod: string; line: LogLine }[]) : undefined;
      },
      { what, timeout, interval: 1_000 },
    );

  it('adds key B (Not-Before + LEAD) with kubectl apply: each pod reloads at its own moment; all publish B before any signs with it', async () => {
    load = startLoad(suite.cluster, suite.namespace, 'load', { ...inPodEnv(suite, release), WORKERS: '4', PAUSE_MS: '40' });
    await load.started;
    keyB = await newSigningKey(new Date(Date.now() + LEAD_SECONDS * 1000));
    t0 = Date.now();
    await applyKeySecret(suite.kubectl, suite.namespace, SECRET, { 'signing-a.pem': keyA.pem, 'signing-b.pem': keyB.pem });
    const reloads = await eachPodLogs(
      'every pod to load key B',
      (l) => l.msg === 'signing keys loaded' && (l.added as string[]).includes(keyB.kid),
    );
    const switches = await eachPodLogs(
      'every pod to sign with key B',
      (l) => l.msg === 'signing key changed' && l.signingKid === keyB.kid,
      (LEAD_SECONDS + 60) * 1000,
    );
    const firstB = await waitFor(() => load!.events.find((e) => e.event === 'kid' && e.kid === keyB.kid), {
      what: 'the client to get a token signed with B',
      timeout: 30_000,
      interval: 200,
    });
    for (const { pod, line } of reloads) {
      const sw = switches.find((s) => s.pod === pod)!.line;
      timeline.push(`${pod}: published B at ${at(line.at)}, signs with B from ${at(sw.at)}`);
    }
    timeline.push(`client: first token signed with B at ${at(firstB.t)}`);
    const lastPublish = Math.max(...reloads.map((r) => r.line.at));
    const firstSign = Math.min(...switches.map((s) => s.line.at));
    assert.ok(
      lastPublish < firstSign,
      `every replica published B (last at ${at(lastPublish)}) before any signed with it (first at ${at(firstSign)})`,
    );
    assert.ok(
      reloads.every((r) => r.line.at > t0),
      'reloads follow the Secret update',
    );
    assert.ok(firstB.t >= firstSign, 'the client sees B only after a replica switched');
    assert.ok(firstSign >= t0 + LEAD_SECONDS * 1000 - 1000, 'nobody signs with B before its Not-Before');
    const spread = (Math.max(...reloads.map((r) => r.line.at)) - Math.min(...reloads.map((r) => r.line.at))) / 1000;
    timeline.push(
      `kubelet propagation: first pod ${at(Math.min(...reloads.map((r) => r.line.at)))}, last ${at(lastPublish)} (spread ${spread.toFixed(1)}s)`,
    );
    // Keep the load on B for a while before retiring A.
    const okNow = () => Number(load!.events.findLast((e) => e.event === 'stats')?.ok ?? 0);
    const target = okNow() + 100;
    await waitFor(() => okNow() >= target, { what: '100 more verified tokens', timeout: 60_000, interval: 500 });
  });

  it('retires key A (file removed): each pod reloads; A stays published until its tokens expire, then leaves the JWKS', async () => {
    const retiredAt = Date.now();
    await applyKeySecret(suite.kubectl, suite.namespace, SECRET, { 'signing-b.pem': keyB.pem });
    const reloads = await eachPodLogs(
      'every pod to drop A from its keyring',
      (l) => l.msg === 'signing keys loaded' && l.at > retiredAt && JSON.stringify(l.kids) === JSON.stringify([keyB.kid]),
    );
    timeline.push(`retire A: Secret updated at ${at(retiredAt)}; pods reloaded at ${reloads.map((r) => at(r.line.at)).join(', ')}`);
    // tokenTtl is 20s: A's last tokens were minted when B took over; then every replica unpublishes A.
    const gone = await waitFor(
      async () => {
        const all = await Promise.all(pods.map((p) => podHttp(suite.kubectl, suite.namespace, p, '/.well-known/jwks.json')));
        return all.every((r) => (JSON.parse(r.body) as { keys: { kid: string }[] }).keys.every((k) => k.kid !== keyA.kid))
          ? Date.now()
          : undefined;
      },
      { what: 'A to leave every JWKS', timeout: 150_000, interval: 2_000 },
    );
    timeline.push(`A left the JWKS of every pod by ${at(gone)}`);
  });

  it('a corrupt key written into the Secret: B keeps signing, /readyz stays 200, authjwt_key_reload_failing=1 and AuthJwtKeyReloadFailing pending on every pod', async (t) => {
    const missing = spawnSync(PROMETHEUS, ['--version'], { stdio: 'ignore' }).error;
    if (missing) {
      t.skip(missingPrerequisite(WHAT, `${PROMETHEUS} not found (Debian package prometheus, .ci/tools.sh)`));
      return;
    }
    prometheus = await startPrometheus((await releasePods(suite.kubectl, suite.namespace, release)).map((p) => `${p.ip}:8080`));
    await waitFor(async () => (await promQuery(prometheus!.url, 'up{job="authjwt"} == 1')).length === REPLICAS, {
      what: 'Prometheus to scrape every pod',
      timeout: 30_000,
      interval: 500,
    });
    const corruptAt = Date.now();
    await applyKeySecret(suite.kubectl, suite.namespace, SECRET, {
      'signing-b.pem': keyB.pem,
      'signing-c.pem': '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n',
    });
    const failures = await eachPodLogs(
      'every pod to reject the corrupt update',
      (l) => l.msg === 'key reload failed; keeping the last good keyring' && l.at > corruptAt,
    );
    timeline.push(
      `corrupt key: Secret updated at ${at(corruptAt)}; pods kept B, failures logged at ${failures.map((f) => at(f.line.at)).join(', ')}`,
    );
    for (const pod of pods) {
      const readyz = await podHttp(suite.kubectl, suite.namespace, pod, '/readyz');
      assert.equal(readyz.status, 200, `${pod} stays ready on the last good keyring`);
      assert.equal((JSON.parse(readyz.body) as { lastKeyReloadError: string }).lastKeyReloadError, 'ERR_AUTHJWT_KEYS_FILE_INVALID');
      assert.match((await podHttp(suite.kubectl, suite.namespace, pod, '/metrics')).body, /^authjwt_key_reload_failing 1$/m);
    }
    const pending = await waitFor(
      async () => {
        const alerts = await promQuery(prometheus!.url, 'ALERTS{alertname="AuthJwtKeyReloadFailing",alertstate="pending"}');
        return alerts.length === REPLICAS ? alerts : undefined;
      },
      { what: 'AuthJwtKeyReloadFailing pending for every pod', timeout: 60_000, interval: 1_000 },
    );
    timeline.push(`Prometheus: AuthJwtKeyReloadFailing pending for ${pending.map((a) => a.metric.instance).join(', ')}`);
    const stats = load!.events.findLast((e) => e.event === 'stats')!;
    assert.equal(stats.failed, 0, 'no call failed while the Secret held a corrupt key');

    // The fix: the metric goes back to 0 on every pod.
    const fixedAt = Date.now();
    await applyKeySecret(suite.kubectl, suite.namespace, SECRET, { 'signing-b.pem': keyB.pem });
    await waitFor(
      async () => {
        const values = await Promise.all(pods.map(async (p) => (await podHttp(suite.kubectl, suite.namespace, p, '/metrics')).body));
        return values.every((m) => /^authjwt_key_reload_failing 0$/m.test(m)) || undefined;
      },
      { what: 'authjwt_key_reload_failing back to 0 on every pod', timeout: 120_000, interval: 2_000 },
    );
    timeline.push(`fixed: Secret updated at ${at(fixedAt)}; authjwt_key_reload_failing 0 on every pod by ${at(Date.now())}`);
  });

  it('through all of it: 0 failed calls and every minted token verified against the JWKS fetched through the Service', async () => {
    assert.ok(load, 'the load ran');
    const summary: LoadSummary = await load.stop();
    load = undefined;
    timeline.push(
      `load: ${summary.calls} calls, ${summary.ok} tokens verified (A: ${summary.byKid[keyA.kid] ?? 0}, B: ${summary.byKid[keyB.kid] ?? 0}), ${summary.failed} failed`,
    );
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    assert.equal(summary.verifyFailed, 0);
    assert.ok((summary.byKid[keyA.kid] ?? 0) > 0 && (summary.byKid[keyB.kid] ?? 0) > 0, 'tokens of both keys were minted and verified');
  });
});

async function startPrometheus(targets: string[]): Promise<{ url: string; process: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-k8s-prometheus-'));
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [RULES],
    // The pods' own addresses (the host routes to the pod network): one target per replica, as the
    // chart's ServiceMonitor makes prometheus-operator scrape them.
    scrape_configs: [{ job_name: 'authjwt', static_configs: [{ targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok, {
    what: 'Prometheus ready',
    timeout: 30_000,
    interval: 250,
  });
  return { url, process: child, dir };
}

async function promQuery(url: string, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
  return ((await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
}
