/**
 * HTTP(S) load generator for the token endpoint rows of test/bench/client-auth.ts (its own process):
 * POSTs form bodies taken in order from a file (one urlencoded body per line; each used once unless
 * `--repeat`), over keep-alive connections, CONCURRENCY at a time, optionally presenting a TLS client
 * certificate. Prints one JSON object: { rps, count, errors, statusCodes, p50, p95, p99 } (ms).
 * Usage: node test/bench/token-load.ts --url URL --bodies FILE [--skip N] [--count N | --duration S] [--repeat] [--concurrency C] [--rps R]
 *        [--ca FILE] [--cert FILE --key FILE]
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    bodies: { type: 'string' },
    count: { type: 'string' },
    repeat: { type: 'boolean', default: false },
    skip: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '16' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    rps: { type: 'string' },
    duration: { type: 'string' },
  },
});
const url = new URL(values.url!);
const bodies = readFileSync(values.bodies!, 'utf8').split('\n').filter(Boolean).slice(Number(values.skip));
const count = values.count ? Number(values.count) : values.duration && values.repeat ? Number.POSITIVE_INFINITY : bodies.length;
/** `--duration S`: stop sending after S seconds (with `--repeat`, or when the bodies run out). */
const until = values.duration ? performance.now() + Number(values.duration) * 1000 : Number.POSITIVE_INFINITY;
if (!values.repeat && count > bodies.length) throw new Error(`only ${bodies.length} single-use bodies for ${count} requests`);
const concurrency = Number(values.concurrency);
const tls = url.protocol === 'https:';
const agent = tls
  ? new HttpsAgent({
      keepAlive: true,
      maxSockets: concurrency,
      ca: values.ca ? readFileSync(values.ca) : undefined,
      cert: values.cert ? readFileSync(values.cert) : undefined,
      key: values.key ? readFileSync(values.key) : undefined,
      servername: 'localhost',
    })
  : new HttpAgent({ keepAlive: true, maxSockets: concurrency });
const request = tls ? httpsRequest : httpRequest;

const latencies: number[] = [];
const statusCodes: Record<string, number> = {};
let sent = 0;
let errors = 0;
const startedAt = performance.now();

function once(body: string): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
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
    req.end(body);
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
    await once(bodies[i % bodies.length]!);
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
