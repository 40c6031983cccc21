import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createMetrics } from '../../../src/telemetry/metrics.ts';

/** The value of one sample line of the exposition (undefined when the series does not exist). */
async function sample(metrics: ReturnType<typeof createMetrics>, series: string): Promise<number | undefined> {
  const line = (await metrics.exposition()).body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it('verification cache lookups: series exist at 0 for every configured provider and count per provider and result', async () => {
  const metrics = createMetrics({ providerIds: ['gh', 'kc'], version: 'test' });
  const series = (provider: string, result: string) =>
    `authjwt_verification_cache_requests_total{provider="${provider}",result="${result}"}`;
  for (const provider of ['gh', 'kc'])
    for (const result of ['hit', 'miss', 'shared']) assert.equal(await sample(metrics, series(provider, result)), 0);
  metrics.observer.onCacheLookup!('gh', 'hit');
  metrics.observer.onCacheLookup!('gh', 'hit');
  metrics.observer.onCacheLookup!('kc', 'shared');
  assert.equal(await sample(metrics, series('gh', 'hit')), 2);
  assert.equal(await sample(metrics, series('gh', 'miss')), 0);
  assert.equal(await sample(metrics, series('kc', 'shared')), 1);
  assert.equal(await sample(metrics, series('kc', 'hit')), 0);
});

it('exchanges: every door counts by provider, outcome and reused; GetJWT also in its own counter', async () => {
  const metrics = createMetrics({ providerIds: ['gh'], version: 'test' });
  const event = { provider: 'gh', durationSeconds: 0.001 } as const;
  metrics.observer.onExchange!({ ...event, door: 'getjwt', outcome: 'ok', reused: false });
  metrics.observer.onExchange!({ ...event, door: 'ext_authz', outcome: 'ok', reused: true });
  metrics.observer.onExchange!({ ...event, door: 'ext_authz', outcome: 'ok', reused: true });
  assert.equal(await sample(metrics, 'authjwt_exchange_requests_total{door="getjwt",provider="gh",outcome="ok",reused="false"}'), 1);
  assert.equal(await sample(metrics, 'authjwt_exchange_requests_total{door="ext_authz",provider="gh",outcome="ok",reused="true"}'), 2);
  assert.equal(await sample(metrics, 'authjwt_getjwt_requests_total{provider="gh",outcome="ok"}'), 1);
  assert.equal(await sample(metrics, 'authjwt_getjwt_duration_seconds_count{provider="gh",outcome="ok"}'), 1);
});
