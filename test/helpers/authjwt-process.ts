/**
 * Runs authjwt as a child process exactly as the image starts it
 * (`node --import ./src/telemetry/tracing.ts src/main.ts --config FILE`), optionally under the image's
 * V8 limits (Dockerfile NODE_OPTIONS) and with a forced-GC hook for heap figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** NODE_OPTIONS of the runtime image (Dockerfile): a 96 MB old space. */
export const IMAGE_NODE_OPTIONS = '--max-old-space-size=96 --max-semi-space-size=8';

export interface AuthJwtProcess {
  child: ChildProcess;
  configFile: string;
  /** stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string | null>;
  /** Waits until `pattern` appears on stdout or stderr (rejects after `timeoutMs` or when the process exits first). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Forces a full GC in the child (needs `gcHook`) and waits until it is done. */
  gc(): Promise<void>;
  alive(): boolean;
  /** The first stderr lines about the heap, memory or a FATAL error, joined with " | " (why the process died). */
  fatalLines(max?: number): string;
  stop(): Promise<void>;
}

export function startAuthJwtProcess(
  configYaml: string,
  options: { imageHeap?: boolean; gcHook?: boolean; env?: NodeJS.ProcessEnv } = {},
): AuthJwtProcess {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-proc-'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, configYaml);
  const args = [
    ...(options.gcHook ? ['--expose-gc', '--import', './test/helpers/gc-on-signal.ts'] : []),
    '--import',
    './src/telemetry/tracing.ts',
    'src/main.ts',
    '--config',
    configFile,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.NODE_TEST_CONTEXT; // the child is not a test runner worker
  if (options.imageHeap) env.NODE_OPTIONS = IMAGE_NODE_OPTIONS;
  else delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };
  child.stdout!.on('data', (c) => {
    out += c;
    notify();
  });
  child.stderr!.on('data', (c) => {
    err += c;
    notify();
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => {
      rmSync(dir, { recursive: true, force: true });
      notify();
      resolve(code ?? signal);
    }),
  );
  let gcCount = 0;

  const waitFor = (pattern: RegExp | (() => boolean), timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const test = typeof pattern === 'function' ? pattern : () => pattern.test(out) || pattern.test(err);
      const done = (error?: Error) => {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (test()) done();
        else if (child.exitCode !== null || child.signalCode !== null)
          done(new Error(`authjwt exited (${child.exitCode ?? child.signalCode}) before ${String(pattern)}; stderr: ${err.slice(-1500)}`));
      };
      const timer = setTimeout(
        () => done(new Error(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}; stderr: ${err.slice(-1500)}`)),
        timeoutMs,
      );
      listeners.add(check);
      check();
    });

  return {
    child,
    configFile,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor,
    async gc() {
      const want = ++gcCount;
      child.kill('SIGUSR2');
      await waitFor(() => (err.match(/authjwt-test: gc done/g) ?? []).length >= want, 10_000);
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    fatalLines: (max = 3) =>
      err
        .split('\n')
        .filter((l) => /heap|memory|FATAL/i.test(l))
        .slice(0, max)
        .join(' | '),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Heap used and RSS (MiB) of an authjwt from its /metrics (prom-client default metrics, read at scrape time). */
export async function memoryFigures(httpUrl: string): Promise<{ heapUsedMb: number; rssMb: number }> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)`, 'm').exec(text);
    if (!m) throw new Error(`${name} not in /metrics`);
    return Number(m[1]) / 2 ** 20;
  };
  return { heapUsedMb: read('nodejs_heap_size_used_bytes'), rssMb: read('process_resident_memory_bytes') };
}
