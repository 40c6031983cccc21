/**
 * Real Prometheus and Alertmanager (Debian packages, installed by .ci/tools.sh) as child processes on
 * loopback with a temporary data directory, and what the monitoring tests share: the dashboard's
 * queries with Grafana's variables substituted, and the anchors of a Markdown file.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './net.ts';

export const PROMETHEUS = process.env.PROMETHEUS_BIN ?? 'prometheus';
export const PROMTOOL = process.env.PROMTOOL_BIN ?? 'promtool';
export const ALERTMANAGER = process.env.AUTHJWT_ALERTMANAGER ?? process.env.ALERTMANAGER_BIN ?? 'prometheus-alertmanager';

/** Why the named tools cannot run here (a message naming the package to install), or undefined. */
export function missingTools(bins: readonly string[]): string | undefined {
  const missing = bins.filter((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 10_000 }).error);
  if (missing.length === 0) return undefined;
  return `${missing.join(' and ')} not found. Install the Debian packages: eval "$(bash .ci/tools.sh)" (prometheus gives prometheus and promtool, prometheus-alertmanager the Alertmanager), or set PROMETHEUS_BIN / PROMTOOL_BIN / AUTHJWT_ALERTMANAGER.`;
}

/** A tool process with its log tail, stopped by SIGTERM (SIGKILL after 5 s). */
interface ToolProcess {
  url: string;
  log(): string;
  alive(): boolean;
  stop(): Promise<void>;
}

async function startTool(
  name: string,
  bin: string,
  args: (port: number) => string[],
  readyPath: string,
  cwd: string,
): Promise<ToolProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(bin, args(port), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const collect = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-64_000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Last resort if the run is torn down before `stop` (the normal stop is SIGTERM there).
  process.once('exit', () => child.kill('SIGKILL'));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const tool: ToolProcess = {
    url,
    log: () => log,
    alive,
    async stop() {
      if (!alive()) return;
      child.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(5_000, false, { ref: false })]))) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  const until = Date.now() + 20_000;
  for (;;) {
    if (!alive()) assert.fail(`${name} exited (${child.exitCode ?? child.signalCode}) at start\n--- log ---\n${log.slice(-4_000)}`);
    if (
      await fetch(`${url}${readyPath}`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return tool;
    if (Date.now() > until) {
      await tool.stop();
      assert.fail(`${name} not ready after 20 s\n--- log ---\n${log.slice(-4_000)}`);
    }
    await sleep(100);
  }
}

export interface RunningPrometheus extends ToolProcess {
  /** GET an API path; asserts `status: success` and returns `data`. */
  api(path: string, params?: Record<string, string>): Promise<unknown>;
  /** An instant query's result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Polls `check` until it is true (Prometheus' log tail in the failure message). */
  waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void>;
}

/**
 * Starts Prometheus with `config` (the prometheus.yml object; JSON is YAML) in `dir`, extra flags after
 * the defaults (e.g. `--rules.alert.resend-delay=1s`), and waits until /-/ready answers.
 */
export async function startPrometheus(dir: string, config: object, flags: readonly string[] = []): Promise<RunningPrometheus> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const tool = await startTool(
    'prometheus',
    PROMETHEUS,
    (port) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--storage.tsdb.retention.time=1h',
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...flags,
    ],
    '/-/ready',
    dir,
  );
  const api = async (path: string, params: Record<string, string> = {}) => {
    const res = await fetch(`${tool.url}${path}?${new URLSearchParams(params)}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { status: string; data: unknown; error?: string };
    assert.equal(body.status, 'success', `${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  };
  const query = async (expr: string) =>
    ((await api('/api/v1/query', { query: expr })) as { result: { metric: Record<string, string>; value: [number, string] }[] }).result;
  const waitFor = async (what: string, timeoutMs: number, check: () => Promise<boolean>) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (!tool.alive())
        assert.fail(`prometheus exited while waiting for ${what}\n--- prometheus log (tail) ---\n${tool.log().slice(-4_000)}`);
      try {
        if (await check()) return;
      } catch (err) {
        if (Date.now() > until) throw err;
      }
      if (Date.now() > until)
        assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}\n--- prometheus log (tail) ---\n${tool.log().slice(-4_000)}`);
      await sleep(250);
    }
  };
  return { ...tool, api, query, waitFor };
}

/** Starts Alertmanager with `config` (alertmanager.yml as an object) in `dir`, clustering off. */
export async function startAlertmanager(dir: string, config: object): Promise<ToolProcess> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'alertmanager.yml'), JSON.stringify(config, null, 2));
  return startTool(
    'alertmanager',
    ALERTMANAGER,
    (port) => [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'am-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=', // no gossip port: a single instance
      '--log.level=warn',
    ],
    '/-/ready',
    dir,
  );
}

interface DashboardPanel {
  title?: string;
  targets?: { expr?: string; refId?: string }[];
  panels?: DashboardPanel[];
}

/** Every `expr` of every panel (rows' nested panels included), with its panel title. */
export function dashboardQueries(dashboard: { panels: DashboardPanel[] }): { panel: string; refId: string; expr: string }[] {
  const out: { panel: string; refId: string; expr: string }[] = [];
  const walk = (panels: DashboardPanel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '?', refId: t.refId ?? '?', expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  return out;
}

/**
 * Grafana's variables → plain PromQL, as Grafana sends it: `$__rate_interval` as `rateInterval`, and
 * each query variable (`$door`, `${provider:regex}`, ...) as the given value (`.*` = All).
 */
export function substituteGrafanaVariables(expr: string, values: Record<string, string>, rateInterval: string): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax, not a template literal
  let out = expr.replaceAll('$__rate_interval', rateInterval).replaceAll('${__rate_interval}', rateInterval);
  for (const [name, value] of Object.entries(values)) out = out.replace(new RegExp(`\\$\\{${name}(?::\\w+)?\\}|\\$${name}\\b`, 'g'), value);
  return out;
}

/** Metric names (authjwt's own, gRPC, Node/process, recording rules, up) referenced by a PromQL expression. */
export function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  const names =
    withoutStrings.match(/(?<![\w:])(?:authjwt[_:][\w:]+|slo:[\w:]+|grpc_server_\w+|nodejs_\w+|process_\w+|up)(?![\w:])/g) ?? [];
  return [...new Set(names)];
}

/** GitHub's heading anchors of a Markdown text. */
export function markdownAnchors(markdown: string): Set<string> {
  let fenced = false;
  return new Set(
    markdown
      .split('\n')
      .filter((l) => {
        if (/^\s*```/.test(l)) fenced = !fenced;
        return !fenced && /^#{1,6} /.test(l);
      })
      .map((l) =>
        l
          .replace(/^#+ /, '')
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      ),
  );
}
