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

it('the door histogram: every request at every door by provider and outcome, with the SLO boundary 0.25 s as a bucket', async () => {
  const metrics = createMetrics({ providerIds: ['gh'], version: 'test' });
  const doors = ['getjwt', 'ext_authz', 'forward_auth', 'token_endpoint'] as const;
  for (const [i, door] of doors.entries()) {
    metrics.observer.onExchange!({ door, provider: 'gh', outcome: 'ok', durationSeconds: 0.2 });
    metrics.observer.onExchange!({ door, provider: 'gh', outcome: 'ok', durationSeconds: 0.3 + i });
    metrics.observer.onExchange!({ door, provider: '_unknown', outcome: 'unavailable', durationSeconds: 0 });
  }
  for (const [i, door] of doors.entries()) {
    const series = (name: string, extra = '') =>
      `authjwt_exchange_duration_seconds_${name}{${extra}door="${door}",provider="gh",outcome="ok"}`;
    assert.equal(await sample(metrics, series('count')), 2, door);
    const bucket = (le: string) => `authjwt_exchange_duration_seconds_bucket{le="${le}",door="${door}",provider="gh",outcome="ok"}`;
    assert.equal(await sample(metrics, bucket('0.25')), 1, `${door}: 0.2 s within the SLO boundary`);
    assert.equal(await sample(metrics, bucket('+Inf')), 2);
    assert.ok(Math.abs((await sample(metrics, series('sum')))! - (0.5 + i)) < 1e-9);
    assert.equal(
      await sample(metrics, `authjwt_exchange_duration_seconds_count{door="${door}",provider="_unknown",outcome="unavailable"}`),
      1,
    );
  }
});

it('deprecated GetJWT names are views of the door histogram: the same values, at 0 for every configured provider and outcome', async () => {
  const metrics = createMetrics({ providerIds: ['gh', 'kc'], version: 'test' });
  for (const outcome of ['ok', 'unauthenticated', 'internal', 'ok'] as const)
    metrics.observer.onExchange!({ door: 'getjwt', provider: 'gh', outcome, durationSeconds: 0.003 });
  metrics.observer.onExchange!({ door: 'getjwt', provider: '_unknown', outcome: 'invalid_argument', durationSeconds: 0.0001 });
  metrics.observer.onExchange!({ door: 'ext_authz', provider: 'gh', outcome: 'ok', durationSeconds: 0.003 });
  const { body } = await metrics.exposition();
  const lines = (prefix: string) => body.split('\n').filter((l) => l.startsWith(prefix));
  // Every series of the door histogram with door="getjwt" is in the old histogram, door label removed, and nothing else.
  const current = lines('authjwt_exchange_duration_seconds_')
    .filter((l) => l.includes('door="getjwt",'))
    .map((l) => l.replace('authjwt_exchange_duration_seconds_', 'authjwt_getjwt_duration_seconds_').replace('door="getjwt",', ''));
  assert.deepEqual(lines('authjwt_getjwt_duration_seconds_').sort(), current.sort());
  assert.ok(
    current.length >= 3 * 17,
    'three series (ok, unauthenticated, internal for gh; invalid_argument for _unknown) of 17 lines each',
  );
  const count = (provider: string, outcome: string) =>
    sample(metrics, `authjwt_getjwt_requests_total{provider="${provider}",outcome="${outcome}"}`);
  assert.equal(await count('gh', 'ok'), 2);
  assert.equal(await count('gh', 'unauthenticated'), 1);
  assert.equal(await count('_unknown', 'invalid_argument'), 1);
  for (const outcome of ['ok', 'unavailable', 'deadline_exceeded']) assert.equal(await count('kc', outcome), 0, `kc ${outcome} at 0`);
  assert.match(body, /# HELP authjwt_getjwt_requests_total DEPRECATED: use authjwt_exchange_duration_seconds_count\{door="getjwt"\}/);
  assert.match(body, /# TYPE authjwt_getjwt_requests_total counter/);
  assert.match(body, /# TYPE authjwt_getjwt_duration_seconds histogram/);
});

it('requests refused before the exchange: by door and reason, at 0 from the start for the enabled doors', async () => {
  const metrics = createMetrics({ providerIds: ['gh'], version: 'test', doors: ['getjwt', 'forward_auth'] });
  const series = (door: string, reason: string) => `authjwt_requests_refused_total{door="${door}",reason="${reason}"}`;
  for (const door of ['getjwt', 'forward_auth'])
    for (const reason of ['draining', 'overloaded', 'no_token', 'malformed']) assert.equal(await sample(metrics, series(door, reason)), 0);
  assert.equal(await sample(metrics, series('token_endpoint', 'malformed')), undefined, 'a disabled door has no series');
  const refused = { provider: '_unknown', outcome: 'unauthenticated', durationSeconds: 0 } as const;
  metrics.observer.onExchange!({ ...refused, door: 'forward_auth', refused: 'no_token' });
  metrics.observer.onExchange!({ ...refused, door: 'forward_auth', refused: 'no_token' });
  metrics.observer.onExchange!({ ...refused, door: 'getjwt', outcome: 'resource_exhausted', refused: 'overloaded' });
  metrics.observer.onExchange!({ ...refused, door: 'forward_auth' }); // an exchange that ran: not a refusal
  assert.equal(await sample(metrics, series('forward_auth', 'no_token')), 2);
  assert.equal(await sample(metrics, series('getjwt', 'overloaded')), 1);
  assert.equal(
    await sample(metrics, 'authjwt_exchange_duration_seconds_count{door="forward_auth",provider="_unknown",outcome="unauthenticated"}'),
    3,
  );
});

it('policy decisions by provider, decision and rule: every configured rule at 0 from the start; the decision passes through unchanged', async () => {
  const metrics = createMetrics({ providerIds: ['gh'], version: 'test' });
  const decisions = [
    { allowed: true, claims: { team: 'x' } },
    { allowed: false, rule: 'org-member', reason: 'denied' },
    { allowed: false, rule: 'org-member', reason: 'denied' },
    { allowed: false, rule: 'claims.team', reason: 'error', detail: 'not_bool' },
  ] as const;
  let next = 0;
  const policy = metrics.meterPolicy({ needs: new Set(), evaluate: () => decisions[next++]! }, 'gh', [
    'org-member',
    'not-mallory',
    'claims.team',
  ]);
  const series = (decision: string, rule: string) => `authjwt_policy_decisions_total{provider="gh",decision="${decision}",rule="${rule}"}`;
  assert.equal(await sample(metrics, series('allowed', '')), 0);
  for (const rule of ['org-member', 'not-mallory', 'claims.team'])
    for (const decision of ['denied', 'error']) assert.equal(await sample(metrics, series(decision, rule)), 0, `${decision} ${rule}`);
  const input = { claims: {}, account: { provider: 'gh', id: '1' }, lookups: {} };
  for (const expected of decisions) assert.equal(policy.evaluate(input), expected);
  assert.equal(await sample(metrics, series('allowed', '')), 1);
  assert.equal(await sample(metrics, series('denied', 'org-member')), 2);
  assert.equal(await sample(metrics, series('error', 'claims.team')), 1);
  assert.equal(await sample(metrics, series('denied', 'not-mallory')), 0);
});

it('minted-token cache: lookups by result and evictions by reason (at 0 from the start), entries at scrape time', async () => {
  const metrics = createMetrics({ providerIds: [], version: 'test' });
  const cache = { size: 0 };
  metrics.watchMintedTokens(cache);
  for (const s of [
    'requests_total{result="hit"}',
    'requests_total{result="miss"}',
    'evictions_total{reason="capacity"}',
    'evictions_total{reason="expired"}',
  ])
    assert.equal(await sample(metrics, `authjwt_minted_token_cache_${s}`), 0, s);
  metrics.observer.onMintedTokenLookup!('hit');
  metrics.observer.onMintedTokenLookup!('hit');
  metrics.observer.onMintedTokenLookup!('miss');
  metrics.observer.onMintedTokenEviction!('capacity');
  cache.size = 7;
  assert.equal(await sample(metrics, 'authjwt_minted_token_cache_requests_total{result="hit"}'), 2);
  assert.equal(await sample(metrics, 'authjwt_minted_token_cache_requests_total{result="miss"}'), 1);
  assert.equal(await sample(metrics, 'authjwt_minted_token_cache_evictions_total{reason="capacity"}'), 1);
  assert.equal(await sample(metrics, 'authjwt_minted_token_cache_entries'), 7);
});

it('edge Txn-Token modes (issue 22): authjwt_edge_txn_token_requests_total by door, mode and outcome; requests without a mode are not counted', async () => {
  const metrics = createMetrics({ providerIds: ['gh'], version: 'test' });
  const event = { provider: 'gh', durationSeconds: 0.001 } as const;
  metrics.observer.onExchange!({ ...event, door: 'ext_authz', outcome: 'ok', txnTokenMode: 'mint', txn: 't1' });
  metrics.observer.onExchange!({ ...event, door: 'ext_authz', outcome: 'ok', txnTokenMode: 'mint', txn: 't2' });
  metrics.observer.onExchange!({ ...event, door: 'forward_auth', outcome: 'unauthenticated', txnTokenMode: 'verify' });
  metrics.observer.onExchange!({ ...event, door: 'ext_authz', outcome: 'ok' });
  const series = (door: string, mode: string, outcome: string) =>
    `authjwt_edge_txn_token_requests_total{door="${door}",mode="${mode}",outcome="${outcome}"}`;
  assert.equal(await sample(metrics, series('ext_authz', 'mint', 'ok')), 2);
  assert.equal(await sample(metrics, series('forward_auth', 'verify', 'unauthenticated')), 1);
  const body = (await metrics.exposition()).body;
  assert.ok(!body.includes('t1'), 'the txn is never a label');
  assert.equal(body.split('\n').filter((l) => l.startsWith('authjwt_edge_txn_token_requests_total{')).length, 2);
});
