/**
 * Regression (issue 13, point 8): SIGTERM to `npm start` must stop the Node server and free its ports.
 * npm forwards the signal to its child; before the fix that child was the `sh -c` of the start script,
 * which died and left node running (orphaned, ports held). The script now `exec`s, so npm's child is
 * node itself (scripts/with-node24.sh execs too) and the signal reaches its handler.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../helpers/authjwt-process.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** Pids of live processes whose command line contains `marker` (our unique config path). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

it('regression #13.8: SIGTERM to `npm start` stops authjwt and frees its ports', { skip: process.platform !== 'linux' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-npm-start-'));
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const configFile = join(dir, 'npm-start-config.yaml');
  writeFileSync(
    configFile,
    [
      `issuer: http://127.0.0.1:${httpPort}`,
      'audience: [internal-services]',
      `grpc: { listen: "127.0.0.1:${grpcPort}" }`,
      `http: { listen: "127.0.0.1:${httpPort}" }`,
      'keys: { ephemeral: true }',
      'providers: [{ id: github, type: oauth, preset: github }]',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  const npm = spawn('npm', ['start', '--', '--config', configFile], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  npm.stdout.on('data', (d) => (output += d));
  npm.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | string | null>((resolve) => npm.once('exit', (code, signal) => resolve(code ?? signal)));
  try {
    await waitFor(() => output.includes('authjwt started') || npm.exitCode !== null, {
      what: 'authjwt to start under npm',
      timeout: 60_000,
    });
    assert.ok(output.includes('authjwt started'), output);
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/livez`)).status, 200);
    assert.deepEqual([await canListen(grpcPort), await canListen(httpPort)], [false, false], 'authjwt holds both ports');

    npm.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(30_000, 'timeout', { ref: false })]);
    assert.notEqual(code, 'timeout', output);
    await waitFor(() => processesWith(configFile).length === 0, { what: 'the node server to exit', timeout: 30_000 });
    assert.match(output, /"signal":"SIGTERM".*signal received/);
    assert.match(output, /authjwt stopped/);
    assert.deepEqual([await canListen(grpcPort), await canListen(httpPort)], [true, true], 'both ports are free again');
  } finally {
    // Whatever happened, no process of this test outlives it (by pid: only the ones running our config).
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    for (const pid of processesWith(configFile)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
