import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthJwtError } from '../../../src/errors.ts';
import { createProviderFetch, type FetchFn } from '../../../src/providers/http/provider-fetch.ts';
import { limitResponseBody, readJsonBody } from '../../../src/providers/http/response-body.ts';

const streamOf = (chunks: number, chunkBytes: number, pulled: { n: number }) =>
  new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled.n >= chunks) return controller.close();
      pulled.n++;
      controller.enqueue(new Uint8Array(chunkBytes).fill(0x20));
    },
  });

describe('provider response bodies are capped', () => {
  it('regression: stops reading an oversized chunked body at the limit (no content-length)', async () => {
    const pulled = { n: 0 };
    const response = new Response(streamOf(300, 1024 * 1024, pulled)); // would be 300 MiB
    await assert.rejects(
      readJsonBody(limitResponseBody(response, 1024 * 1024)),
      (e: AuthJwtError) => e.kind === 'unavailable' && e.code === 'ERR_AUTHJWT_PROVIDER_RESPONSE_TOO_LARGE',
    );
    assert.ok(pulled.n <= 3, `read ${pulled.n} MiB before giving up`);
  });
  it('refuses a declared content-length over the limit without reading', async () => {
    const pulled = { n: 0 };
    const response = new Response(streamOf(5, 10, pulled), { headers: { 'content-length': String(2 * 1024 * 1024) } });
    assert.throws(
      () => limitResponseBody(response, 1024 * 1024),
      (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_PROVIDER_RESPONSE_TOO_LARGE',
    );
    assert.equal(pulled.n, 0, 'not read at all');
  });
  it('garbage → unavailable; valid JSON parsed', async () => {
    await assert.rejects(
      readJsonBody(new Response('{"id": 1,')),
      (e: AuthJwtError) => e.kind === 'unavailable' && e.code === 'ERR_AUTHJWT_PROVIDER_BAD_RESPONSE',
    );
    assert.deepEqual(await readJsonBody(new Response('{"id":1}')), { id: 1 });
  });
});

describe('createProviderFetch', () => {
  const counting = (statuses: number[]) => {
    const calls: string[] = [];
    const fetch: FetchFn = async (_input, init) => {
      calls.push(init?.method ?? 'GET');
      return new Response('{}', { status: statuses[Math.min(calls.length - 1, statuses.length - 1)] });
    };
    return { calls, fetch };
  };
  const options = (fetch: FetchFn, extra: object = {}) => ({
    provider: 'p',
    timeoutMs: 1_000,
    endpointOf: () => 'user_api',
    fetch,
    ...extra,
  });

  it('retries an idempotent GET after a 5xx, never a POST', async () => {
    const get = counting([503, 200]);
    const res = await createProviderFetch(options(get.fetch, { retries: 1 }))('http://127.0.0.1/x');
    assert.equal(res.status, 200);
    assert.equal(get.calls.length, 2);
    const post = counting([503, 200]);
    const res2 = await createProviderFetch(options(post.fetch, { retries: 1 }))('http://127.0.0.1/x', { method: 'POST' });
    assert.equal(res2.status, 503, 'the 5xx reaches the caller');
    assert.equal(post.calls.length, 1);
  });

  it('never follows redirects', async () => {
    let redirect: RequestInit['redirect'];
    const recordRedirect: FetchFn = async (_i, init) => {
      redirect = init?.redirect;
      return new Response(null, { status: 302 });
    };
    await createProviderFetch(options(recordRedirect))('http://127.0.0.1/x');
    assert.equal(redirect, 'manual');
  });

  it('opens the circuit after failures and fails fast with UNAVAILABLE; caller aborts do not count', async () => {
    const failing = counting([500]);
    const f = createProviderFetch(
      options(failing.fetch, {
        retries: 0,
        circuitBreaker: { enabled: true, errorRatio: 0.5, minimumCalls: 3, openFor: 60_000, window: 10_000 },
      }),
    );
    for (let i = 0; i < 3; i++) assert.equal((await f('http://127.0.0.1/x')).status, 500);
    await assert.rejects(
      f('http://127.0.0.1/x'),
      (e: AuthJwtError) => e.kind === 'unavailable' && e.code === 'ERR_AUTHJWT_PROVIDER_CIRCUIT_OPEN',
    );
    assert.equal(failing.calls.length, 3, 'no call reaches the provider while open');

    const aborting: FetchFn = (_i, init) =>
      new Promise((_r, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    const g = createProviderFetch(
      options(aborting, {
        retries: 0,
        circuitBreaker: { enabled: true, errorRatio: 0.5, minimumCalls: 3, openFor: 60_000, window: 10_000 },
      }),
    );
    for (let i = 0; i < 5; i++) {
      const controller = new AbortController();
      const p = g('http://127.0.0.1/x', { signal: controller.signal });
      controller.abort(new Error('caller deadline'));
      await assert.rejects(p, /caller deadline/);
    }
    // Closed: the next call reaches the provider instead of failing fast.
    await assert.rejects(g('http://127.0.0.1/x', { signal: AbortSignal.timeout(50) }), (e: Error) => e.name === 'TimeoutError');
  });
});
