/**
 * HTTP load generator for the forward-auth rows (its own process, like ghz for gRPC): COUNT GET
 * requests (or for DURATION seconds) over keep-alive connections, CONCURRENCY at a time, each with
 * `Authorization: Bearer <token>` taken round-robin from a file (one token per line: one line = the
 * minted-token cache hit, many = misses) and the given extra headers. Prints one JSON object:
 * { rps, count, errors, statusCodes, p50, p95, p99 } (latencies in ms). hey cannot vary the token.
 * Usage: node test/bench/http-load.ts --url URL --tokens FILE [--count N | --duration S] [--concurrency C] [--rps R] [--header k:v]...
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    tokens: { type: 'string' },
    count: { type: 'string' },
    duration: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    header: { type: 'string', multiple: true, default: [] },
    rps: { type: 'string' },
  },
});
const url = new URL(values.url!);
const tokens = readFileSync(values.tokens!, 'utf8').split('\n').filter(Boolean);
const extra = Object.fromEntries(values.header!.map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]));
const count = values.count ? Number(values.count) : Number.POSITIVE_INFINITY;
const until = values.duration ? performance.now() + Number(values.duration) * 1000 : Number.POSITIVE_INFINITY;
const concurrency = Number(values.concurrency);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

const latencies: number[] = [];
const statusCodes: Record<string, number> = {};
let sent = 0;
let errors = 0;
const startedAt = performance.now();

function once(token: string): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        agent,
        headers: { ...extra, authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - started);
          statusCodes[res.statusCode!] = (statusCodes[res.statusCode!] ?? 0) + 1;
          if (res.statusCode !== 200) errors++;
          resolve();
        });
      },
    );
    req.on('error', () => {
      errors++;
      statusCodes.error = (statusCodes.error ?? 0) + 1;
      resolve();
    });
    req.end();
  });
}

/** `--rps R`: request i is not sent before `started + i / R` (a fixed rate; latency counted from the send). */
const interval = values.rps ? 1000 / Number(values.rps) : 0;
const pace = async (i: number) => {
  const wait = startedAt + i * interval - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
};

async function worker(): Promise<void> {
  while (sent < count && performance.now() < until) {
    const i = sent++;
    if (interval) await pace(i);
    await once(tokens[i % tokens.length]!);
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - startedAt) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? Number.NaN;
agent.destroy();
console.log(
  JSON.stringify({
    rps: latencies.length / seconds,
    count: latencies.length,
    errors,
    statusCodes,
    p50: pct(50),
    p95: pct(95),
    p99: pct(99),
  }),
);
