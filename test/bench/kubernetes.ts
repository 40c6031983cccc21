/**
 * Micro-benchmark of the kubernetes provider's verification (src/providers/kubernetes/) against the
 * FAKE Kubernetes API server (test/helpers/fake-kubernetes.ts), keys already fetched: µs per verify() of
 * a projected service-account token (RS256, as Kubernetes signs)
 *   - at a cache miss: a token not seen before (signature, claims, kubernetes.io, default-account rule);
 *   - at a cache hit: the same token again, through the CachingVerifier the registry puts in front;
 *   - with TokenReview at a cache miss: plus one HTTPS round trip to the (loopback) API server.
 * The exchange's cache-hit path is ~500 µs of server CPU per call (docs/benchmarks.md).
 *
 *   sh scripts/with-node24.sh test/bench/kubernetes.ts [--tokens 2000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { CachingVerifier } from '../../src/providers/caching-verifier.ts';
import { createKubernetesTokenVerifier } from '../../src/providers/kubernetes/kubernetes-verifier.ts';
import { startFakeKubernetes } from '../helpers/fake-kubernetes.ts';

const { values: args } = parseArgs({ options: { tokens: { type: 'string' }, rounds: { type: 'string' } } });
const TOKENS = Number(args.tokens ?? 2000);
const ROUNDS = Number(args.rounds ?? 5);

const k8s = await startFakeKubernetes();
const options = {
  provider: 'k8s',
  issuer: k8s.issuer,
  audiences: ['authjwt'],
  apiAudiences: [k8s.issuer],
  apiServer: k8s.apiServer,
  tokenFile: k8s.tokenFile,
  caFile: k8s.caFile,
};
const local = createKubernetesTokenVerifier(options);
const review = createKubernetesTokenVerifier({ ...options, tokenReview: true });
const cached = new CachingVerifier(local, { provider: 'k8s', maxEntries: 10_000, maxTtl: 300_000, remoteTtl: 0 });

const sa = { namespace: 'team-payments', name: 'api', uid: '1a2b3c4d-0000-4000-8000-000000000001' };
process.stderr.write(`# signing ${TOKENS} tokens…\n`);
const tokens: string[] = [];
for (let i = 0; i < TOKENS; i++) tokens.push((await k8s.issue(sa)).token);
// Warm-up: discovery, JWKS, connections, JIT.
for (const t of tokens.slice(0, 200)) {
  await local.verify(t);
  await review.verify(t);
}

/** Median over rounds of µs per call. */
async function measure(name: string, calls: number, run: (i: number) => Promise<unknown>): Promise<string> {
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await run(i);
    samples.push(Number(process.hrtime.bigint() - start) / calls / 1000);
  }
  samples.sort((a, b) => a - b);
  return `| ${name} | ${calls} | ${samples[Math.floor(samples.length / 2)]!.toFixed(1)} | ${samples[0]!.toFixed(1)} |`;
}

const rows = [
  await measure('cache miss (new token: RS256 signature + claims)', TOKENS, (i) => local.verify(tokens[i]!)),
  await measure('cache hit (CachingVerifier, same token)', 20_000, () => cached.verify(tokens[0]!)),
  await measure('cache miss with TokenReview (+ one HTTPS call to the API server)', Math.min(TOKENS, 500), (i) =>
    review.verify(tokens[i]!),
  ),
];
console.log(`# kubernetes verification: node ${process.version}, median of ${ROUNDS} rounds, keys loaded`);
console.log('| scenario | calls per round | µs/call (median) | µs/call (min) |');
console.log('| --- | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
await local.close();
await review.close();
await k8s.close();
