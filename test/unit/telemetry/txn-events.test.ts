/**
 * What the doors report of a Txn-Token (issue 22): `txn` on the active span (a trace id and a
 * transaction id join), `txn` and a hash in the log line, the requester and kind as bounded labels —
 * and never the token.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { type Context, type ContextManager, context, ROOT_CONTEXT, type Span, trace } from '@opentelemetry/api';
import { beginExchangeReport, createExchangeReporter } from '../../../src/telemetry/exchange-events.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { txnTokenHash } from '../../../src/txn-tokens/door.ts';

/** The smallest ContextManager: AsyncLocalStorage, as @opentelemetry/context-async-hooks does. */
class StorageContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active = () => this.#storage.getStore() ?? ROOT_CONTEXT;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A) {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable = () => this;
  disable = () => this;
}

it('an issued Txn-Token: txn and requester on the span, txn and hash in the log, the token nowhere', () => {
  const token = 'eyJhbGciOiJFUzI1NiIsInR5cCI6InR4bnRva2VuK2p3dCJ9.eyJ0eG4iOiJ0LTEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
  const lines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _e, cb) {
        lines.push(String(chunk));
        cb();
      },
    }) as never,
  });
  const events: unknown[] = [];
  const report = createExchangeReporter(logger, { onExchange: (e) => events.push(e) });
  const attributes: Record<string, unknown> = {};
  const span = {
    setAttributes: (a: Record<string, unknown>) => Object.assign(attributes, a),
    setAttribute: (k: string, v: unknown) => Object.assign(attributes, { [k]: v }),
    spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }),
    isRecording: () => true,
  } as unknown as Span;

  assert.ok(context.setGlobalContextManager(new StorageContextManager()));
  try {
    context.with(trace.setSpan(context.active(), span), () => {
      const r = beginExchangeReport('token_endpoint', { report, providerIds: new Set(['kc']) });
      r.annotate({ txnRequester: 'other', txnKind: 'new' });
      r.identify({
        kind: 'tls_client_auth',
        id: 'gateway',
        subject: 'spiffe://td/gw',
        issuer: '',
        spiffeId: 'spiffe://td/gw',
        namespace: '',
        serviceAccount: '',
      });
      r.annotate({ txnRequester: 'gateway', txnKind: 'replacement' });
      r.succeeded({ provider: 'kc', strategy: 'jwt', kid: 'k1', reused: false, txn: { txn: 't-1', tokenHash: txnTokenHash(token) } });
    });
  } finally {
    context.disable();
  }
  assert.equal(attributes['authjwt.txn'], 't-1');
  assert.equal(attributes['authjwt.txn.requester'], 'gateway');
  const entry = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
  assert.deepEqual(
    [entry.txn, entry.txnTokenHash, entry.txnRequester, entry.txnKind, entry.caller],
    ['t-1', txnTokenHash(token), 'gateway', 'replacement', 'gateway'],
  );
  assert.match(String(entry.txnTokenHash), /^[0-9a-f]{16}$/);
  for (const text of [...lines, JSON.stringify(attributes), JSON.stringify(events)]) {
    assert.ok(!text.includes(token) && !text.includes(token.split('.')[2]!), 'no token anywhere');
  }
});

it('the edge doors (issue 22): a verified Txn-Token puts txn and the mode on the span; a refused one only the mode; the token nowhere', () => {
  const token = 'eyJhbGciOiJFUzI1NiJ9.eyJ0eG4iOiJ0LTIifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtZWRnZQ';
  const lines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _e, cb) {
        lines.push(String(chunk));
        cb();
      },
    }) as never,
  });
  const report = createExchangeReporter(logger, {});
  const spans: Record<string, unknown>[] = [];
  const spanOf = () => {
    const attributes: Record<string, unknown> = {};
    spans.push(attributes);
    return {
      setAttributes: (a: Record<string, unknown>) => Object.assign(attributes, a),
      setAttribute: (k: string, v: unknown) => Object.assign(attributes, { [k]: v }),
      spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }),
      isRecording: () => true,
    } as unknown as Span;
  };
  assert.ok(context.setGlobalContextManager(new StorageContextManager()));
  try {
    context.with(trace.setSpan(context.active(), spanOf()), () => {
      const r = beginExchangeReport('ext_authz', { report, providerIds: new Set(['kc']) }, 'GET api/orders');
      r.annotate({ txnTokenMode: 'verify' });
      r.succeeded({
        provider: '_txn_token',
        strategy: 'txn-token',
        kid: '',
        reused: false,
        txn: { txn: 't-2', tokenHash: txnTokenHash(token) },
      });
    });
    context.with(trace.setSpan(context.active(), spanOf()), () => {
      const r = beginExchangeReport('forward_auth', { report, providerIds: new Set(['kc']) });
      r.annotate({ txnTokenMode: 'verify' });
      r.failed(
        {
          outcome: 'unauthenticated',
          reason: 'ERR_AUTHJWT_TXN_TOKEN_INVALID',
          detail: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
          unexpected: undefined,
        },
        new Error('x'),
        undefined,
      );
    });
  } finally {
    context.disable();
  }
  assert.deepEqual(
    [spans[0]!['authjwt.txn'], spans[0]!['authjwt.txn_token.mode'], spans[0]!['authjwt.door']],
    ['t-2', 'verify', 'ext_authz'],
  );
  assert.deepEqual([spans[1]!['authjwt.txn'], spans[1]!['authjwt.txn_token.mode']], [undefined, 'verify']);
  const [ok, refused] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual([ok!.txn, ok!.txnTokenHash, ok!.txnTokenMode, ok!.door], ['t-2', txnTokenHash(token), 'verify', 'ext_authz']);
  assert.deepEqual([refused!.txnTokenMode, refused!.reason, refused!.txn], ['verify', 'ERR_AUTHJWT_TXN_TOKEN_INVALID', undefined]);
  for (const text of [...lines, JSON.stringify(spans)]) assert.ok(!text.includes(token.split('.')[2]!), 'no token anywhere');
});
