/** Hot-path counter increments kept as numbers and added at collection (issue 24): none lost, none counted twice. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { CountedChildren } from '../../../src/telemetry/counted-children.ts';
import { createMetrics } from '../../../src/telemetry/metrics.ts';

it('adds the pending increments on every collection, exactly once, per child', async () => {
  const registry = new Registry();
  const counts = new CountedChildren();
  const counter = new Counter({ name: 't_total', help: 't', labelNames: ['l'], registers: [registry], collect: () => counts.flush() });
  const a = counts.of(counter.labels('a'));
  const b = counts.of(counter.labels('b'));
  const value = async (l: string) => (await counter.get()).values.find((v) => v.labels.l === l)?.value;
  a.inc();
  a.inc();
  assert.equal(await value('a'), 2);
  assert.equal(await value('b'), undefined, 'never incremented: no series (as with prom-client alone)');
  assert.equal(await value('a'), 2, 'a second collection adds nothing');
  b.inc();
  a.inc();
  assert.match(await registry.metrics(), /t_total\{l="a"\} 3\n/);
  assert.match(await registry.metrics(), /t_total\{l="b"\} 1\n/);
});

it('the gRPC and minted-token counters count every call across scrapes', async () => {
  const metrics = createMetrics({ providerIds: ['gh'], version: 'test' });
  const sample = async (series: string) =>
    Number(
      (await metrics.exposition()).body
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.slice(series.length + 1),
    );
  for (let scrape = 1; scrape <= 3; scrape++) {
    metrics.observer.onMintedTokenLookup!('hit');
    metrics.observer.onMintedTokenLookup!('hit');
    metrics.observer.onMintedTokenLookup!('miss');
    assert.equal(await sample('authjwt_minted_token_cache_requests_total{result="hit"}'), 2 * scrape);
    assert.equal(await sample('authjwt_minted_token_cache_requests_total{result="miss"}'), scrape);
  }
});
