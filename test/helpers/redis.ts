/**
 * A REAL redis-server (Debian's, installed by .ci/tools.sh) on a free loopback port, for the replay-cache
 * tests: no persistence, no config file, its own temporary directory. It can be stopped (connection
 * refused), paused with SIGSTOP (connected but silent: commands time out) and resumed, and restarted on
 * the same port. Missing binary: skip locally, fail with CI set (test/helpers/prerequisite.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolsEnv } from './interop-tools.ts';
import { freePort } from './net.ts';
import { waitFor } from './wait-for.ts';

export interface RedisServer {
  url: string;
  port: number;
  /** Sends a command line (inline protocol) and returns the raw reply. */
  command(line: string): Promise<string>;
  /** SIGTERM and wait: the port refuses connections. */
  stop(): Promise<void>;
  /** Starts again on the same port (empty: no persistence). */
  start(): Promise<void>;
  /** SIGSTOP: the TCP connection stays, nothing answers. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** The redis-server binary (AUTHJWT_REDIS_SERVER from .ci/tools.sh, else /usr/bin), or undefined. */
export function findRedisServer(): string | undefined {
  for (const file of [
    toolsEnv().AUTHJWT_REDIS_SERVER,
    process.env.AUTHJWT_REDIS_SERVER,
    '/usr/bin/redis-server',
    '/usr/sbin/redis-server',
  ]) {
    if (!file) continue;
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export const REDIS_MISSING = 'redis-server is not installed: run  eval "$(bash .ci/tools.sh)"  as root (Debian package redis-server)';

export async function startRedis(binary: string): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-redis-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
    const proc = spawn(binary, args, { stdio: 'ignore' });
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    await waitFor(async () => (await ping()) === '+PONG', { timeout: 10_000, what: `redis-server on ${port}` });
  };

  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      let reply = '';
      socket.setTimeout(2_000, () => socket.destroy(new Error('timeout')));
      socket.on('connect', () => socket.write(`${line}\r\n`));
      socket.on('data', (chunk) => {
        reply += chunk;
        if (reply.endsWith('\r\n')) socket.end();
      });
      socket.on('close', () => resolve(reply.trim()));
      socket.on('error', reject);
    });
  const ping = () => command('PING').catch(() => '');

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    command,
    async stop() {
      if (!child || child.exitCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      await exited;
    },
    start: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async close() {
      if (child && child.exitCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
