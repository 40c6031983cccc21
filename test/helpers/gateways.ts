/**
 * Real gateways as test-owned processes on loopback ports, each with its own temporary prefix (no
 * root paths, no daemons): nginx (Debian package), Caddy and oauth2-proxy (Go proxy builds), Envoy and
 * Traefik (PyPI wheels), found through test/helpers/interop-tools.ts. Configs are the deploy/ examples with the test's addresses
 * substituted (renderExample), so the examples are what the tests prove.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './interop-tools.ts';
import { freePort } from './net.ts';
import { waitFor } from './wait-for.ts';

export interface Gateway {
  url: string;
  /** The gateway's process id (its CPU time is read from /proc by the benchmark). */
  pid: number;
  /** Everything the process wrote so far (diagnostics for failed assertions). */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * A deploy/ example as a test runs it: each `from` text (a cluster host:port, a public host name, a
 * listen port) replaced by the test's loopback value. Every `from` must occur (a renamed host in the
 * example fails the test instead of silently testing something else).
 */
export function renderExample(file: string, replacements: Record<string, string>): string {
  let text = readFileSync(join(REPO_ROOT, file), 'utf8');
  for (const [from, to] of Object.entries(replacements)) {
    if (!text.includes(from)) throw new Error(`${file}: "${from}" not found`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/** Polls until `url` answers (any HTTP status, or one `ready` accepts) or the child exits. */
async function waitHttp(
  url: string,
  child: ChildProcess,
  logs: () => string,
  ready: (status: number) => boolean = () => true,
): Promise<void> {
  const answers = async () => {
    if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode})`);
    return fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      (res) => ready(res.status),
      () => false,
    );
  };
  try {
    await waitFor(answers, { what: `${url} to answer`, timeout: 30_000, interval: 100 });
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${logs()}`, { cause: error });
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts a gateway and resolves once `readyPath` answers; a gateway that does not come up is stopped. */
async function launch(
  file: string,
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    dir: string;
    url: string;
    readyPath: string;
    /** Where readiness is polled when not `url` + `readyPath` (e.g. Envoy's admin `/ready`), and which statuses mean ready. */
    readyUrl?: string;
    ready?: (status: number) => boolean;
    stopSignal: NodeJS.Signals;
    /** Discard stdout (e.g. an access log under load) instead of keeping it for `logs()`. */
    discardStdout?: boolean | undefined;
  },
): Promise<Gateway> {
  let logs = '';
  const child = spawn(file, args, {
    env: options.env ?? process.env,
    stdio: ['ignore', options.discardStdout ? 'ignore' : 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (logs += d));
  child.stderr!.on('data', (d) => (logs += d));
  const gateway: Gateway = {
    url: options.url,
    pid: child.pid!,
    logs: () => logs,
    async stop() {
      await stopChild(child, options.stopSignal);
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
  try {
    await waitHttp(options.readyUrl ?? `${options.url}${options.readyPath}`, child, gateway.logs, options.ready);
  } catch (e) {
    await gateway.stop();
    throw e;
  }
  return gateway;
}

/**
 * nginx with `daemon off`, its pid and temp paths in the prefix. `server` is the example's `server { … }`
 * block(s), rendered; the surrounding `http { … }` with the test-owned paths is added here.
 */
export async function startNginx(nginx: string, port: number, server: string): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${server}
}
`,
  );
  return launch(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], {
    dir,
    url: `http://127.0.0.1:${port}`,
    readyPath: '/',
    stopSignal: 'SIGQUIT',
  });
}

/** Caddy with the admin API and automatic HTTPS off, storage and HOME in the prefix; `site` is the Caddyfile site block. */
export async function startCaddy(caddy: string, port: number, site: string): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-caddy-'));
  writeFileSync(
    join(dir, 'Caddyfile'),
    `{
  admin off
  auto_https off
  storage file_system ${dir}/data
}
${site}
`,
  );
  return launch(caddy, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    dir,
    url: `http://127.0.0.1:${port}`,
    readyPath: '/',
    stopSignal: 'SIGTERM',
  });
}

/** oauth2-proxy with the given flags (`--http-address` is added). */
export async function startOauth2Proxy(bin: string, port: number, flags: string[]): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-oauth2-proxy-'));
  return launch(bin, [`--http-address=127.0.0.1:${port}`, ...flags], {
    env: { ...process.env, HOME: dir },
    dir,
    url: `http://127.0.0.1:${port}`,
    readyPath: '/ping',
    stopSignal: 'SIGTERM',
  });
}

export interface EnvoyGateway extends Gateway {
  /** Envoy's admin interface (loopback, added by the test: the examples have none). */
  adminUrl: string;
  /** A counter or gauge of `/stats` (e.g. `http.api.ext_authz.denied`); 0 when Envoy does not have it yet. */
  stat(name: string): Promise<number>;
}

/**
 * Envoy with `bootstrap` (a rendered deploy/envoy example) as its config file, one worker thread, hot
 * restart off (no shared memory: several Envoys run side by side) and an admin listener on loopback
 * merged in with `--config-yaml` (the example itself stays as rendered). Ready when admin `/ready`
 * answers 200 (listeners up, static clusters initialised). `url` is the example's listener.
 */
export async function startEnvoy(
  envoy: string,
  port: number,
  bootstrap: string,
  options: { concurrency?: number; logLevel?: string; discardStdout?: boolean } = {},
): Promise<EnvoyGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-envoy-'));
  const config = join(dir, 'envoy.yaml');
  writeFileSync(config, bootstrap);
  const adminPort = await freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const gateway = await launch(
    envoy,
    [
      '-c',
      config,
      '--config-yaml',
      JSON.stringify({ admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } } }),
      '--disable-hot-restart',
      '--concurrency',
      String(options.concurrency ?? 1),
      '--log-level',
      options.logLevel ?? 'warn',
      // Access logs reach stdout within 100 ms (default 10 s), so a test can read them.
      '--file-flush-interval-msec',
      '100',
    ],
    {
      dir,
      url: `http://127.0.0.1:${port}`,
      readyPath: '/',
      readyUrl: `${adminUrl}/ready`,
      ready: (status) => status === 200,
      stopSignal: 'SIGTERM',
      discardStdout: options.discardStdout,
    },
  );
  return {
    ...gateway,
    adminUrl,
    async stat(name) {
      const text = await (await fetch(`${adminUrl}/stats?filter=${encodeURIComponent(`^${escapeRegExp(name)}$`)}`)).text();
      const m = new RegExp(`^${escapeRegExp(name)}: (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : 0;
    },
  };
}

/**
 * Traefik with a rendered deploy/traefik static configuration whose file provider points at the
 * rendered dynamic configuration (both written into the prefix). `url` is the example's entry point;
 * ready once `/` is routed (the entry point answers 404 until the file provider's routers are loaded).
 */
export async function startTraefik(
  traefik: string,
  port: number,
  files: { static: (dynamicFile: string) => string; dynamic: string },
): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-traefik-'));
  const dynamic = join(dir, 'dynamic.yaml');
  writeFileSync(dynamic, files.dynamic);
  writeFileSync(join(dir, 'traefik.yaml'), files.static(dynamic));
  return launch(traefik, [`--configFile=${join(dir, 'traefik.yaml')}`], {
    env: { ...process.env, HOME: dir },
    dir,
    url: `http://127.0.0.1:${port}`,
    readyPath: '/',
    ready: (status) => status !== 404,
    stopSignal: 'SIGTERM',
  });
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
