/**
 * Property tests of Txn-Token replacement (draft-ietf-oauth-transaction-tokens, "Txn-Token as a
 * subject_token"): random chains of replacements by random requesters, with random narrowing and
 * widening attempts on `scope` and `tctx` and random clock advances, checked against an independent
 * oracle. Invariants: `txn`, `sub`, `aud` never change; `scope` never wider than the replaced token's
 * (hence than the subject token's); asserted `tctx` members never change; an expired token is never
 * replaced; replacements per transaction never exceed the cap; every issued token verifies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AuthJwtError } from '../../../src/errors.ts';
import { keepsMembers } from '../../../src/txn-tokens/context.ts';
import type { TxnTokenClaims } from '../../../src/txn-tokens/verify.ts';
import { gateway, newTts, orders, payments, subject } from './fixtures.ts';

const SCOPES = ['trade.read', 'trade.stocks', 'profile', 'trade.admin', 'orders.write'] as const;
const SUBJECT_SCOPES = ['trade.read', 'trade.stocks', 'profile'];
const TTL_S = 60;
const MAX_REPLACEMENTS = 4;
const REQUESTERS = { gateway, orders, payments } as const;
type RequesterName = keyof typeof REQUESTERS;
/** What each requester of the fixture may do (the oracle's own copy of test/unit/txn-tokens/fixtures.ts). */
const MAY = {
  gateway: { replace: false, details: new Set(['action', 'ticker', 'amount']), scopes: undefined },
  orders: { replace: true, details: new Set(['order_id']), scopes: undefined },
  payments: { replace: true, details: new Set<string>(), scopes: new Set(['trade.read']) },
} as const;

const scopeSet = fc.uniqueArray(fc.constantFrom(...SCOPES), { minLength: 1, maxLength: SCOPES.length });
/** Mostly order_id (orders may set it once; another value later is a modification), sometimes amount (never allowed downstream). */
const details = fc.oneof(
  { arbitrary: fc.record({ order_id: fc.constantFrom('o-1', 'o-2') }), weight: 3 },
  {
    arbitrary: fc.dictionary(fc.constantFrom('order_id', 'amount'), fc.constantFrom<string | number>('o-1', 'o-2', 100, 1e9), {
      minKeys: 1,
      maxKeys: 2,
    }),
    weight: 1,
  },
);
const step = fc.record({
  // Mostly short hops, sometimes past the lifetime.
  advanceSeconds: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 20 }), weight: 5 },
    { arbitrary: fc.integer({ min: 50, max: 70 }), weight: 1 },
  ),
  requester: fc.constantFrom<RequesterName>('orders', 'orders', 'orders', 'payments', 'gateway'),
  // A narrowing attempt (a subset of the replaced token's scope, chosen by mask) or any scopes (widening attempts).
  scope: fc.oneof(
    {
      arbitrary: fc.record({ narrow: fc.constant(true as const), mask: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }) }),
      weight: 3,
    },
    { arbitrary: fc.record({ narrow: fc.constant(false as const), values: scopeSet }), weight: 1 },
  ),
  details: fc.oneof({ arbitrary: fc.constant(undefined), weight: 2 }, { arbitrary: details, weight: 1 }),
});

/** The requested scope of a step, given the replaced token's. */
function requestedScope(parentScope: string, s: StepValue): string[] {
  if (!s.scope.narrow) return s.scope.values;
  const held = parentScope.split(' ');
  const picked = held.filter((_, i) => s.scope.narrow && s.scope.mask[i % 5]);
  return picked.length ? picked : [held[0]!];
}

/** Every rule a replacement request breaks, as catalogue names; empty: it must be issued. */
function violations(parent: TxnTokenClaims, nowS: number, s: StepValue, requested: readonly string[]): Set<string> {
  const out = new Set<string>();
  const may = MAY[s.requester];
  if (parent.exp <= nowS) out.add('TXN_TOKEN_EXPIRED');
  if (!may.replace) out.add('TXN_REPLACEMENT_NOT_ALLOWED');
  const chain = (parent.rctx.req_wl_chain as string[] | undefined) ?? [];
  if (chain.length + 1 > MAX_REPLACEMENTS) out.add('TXN_REPLACEMENTS_EXHAUSTED');
  const held = new Set(parent.scope.split(' '));
  if (requested.some((v) => !held.has(v) || (may.scopes !== undefined && !may.scopes.has(v)))) out.add('TXN_SCOPE_WIDENED');
  for (const [key, value] of Object.entries(s.details ?? {})) {
    if (!may.details.has(key)) out.add('TXN_CONTEXT_NOT_ALLOWED');
    else if (Object.hasOwn(parent.tctx, key) && parent.tctx[key] !== value) out.add('TXN_CONTEXT_MODIFIED');
  }
  return out;
}
interface StepValue {
  advanceSeconds: number;
  requester: RequesterName;
  scope: { narrow: true; mask: boolean[] } | { narrow: false; values: string[] };
  details: Record<string, string | number> | undefined;
}

describe('Txn-Token replacement chains (property)', () => {
  it('txn/sub/aud invariant, never wider, asserted context kept, expiry and cap respected — against an oracle', async () => {
    let issued = 0;
    let refusedCount = 0;
    const codes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom(...SUBJECT_SCOPES), { minLength: 1, maxLength: 3 }),
        fc.array(step, { minLength: 1, maxLength: 10 }),
        async (firstScope, steps) => {
          const tts = await newTts({ maxReplacements: MAX_REPLACEMENTS, ttl: TTL_S * 1000 });
          const root = await tts.issuer.issue({
            subject: subject({ scopes: SUBJECT_SCOPES }),
            requester: gateway,
            requestedScope: firstScope,
            requestDetails: { amount: 100 },
          });
          let parentToken = root.token;
          let parent = await tts.verify(parentToken);
          for (const s of steps as StepValue[]) {
            tts.clock.now += s.advanceSeconds * 1000;
            const nowS = Math.floor(tts.clock.now / 1000);
            const requested = requestedScope(parent.scope, s);
            const expected = violations(parent, nowS, s, requested);
            let outcome: { claims: TxnTokenClaims; token: string } | AuthJwtError;
            try {
              // A replacement request verifies the presented Txn-Token first, then asks the issuer.
              const presented = await tts.verify(parentToken);
              const out = await tts.issuer.issue({
                parent: presented,
                requester: REQUESTERS[s.requester],
                requestedScope: requested,
                requestDetails: s.details,
              });
              outcome = { claims: out.claims, token: out.token };
            } catch (error) {
              assert.ok(error instanceof AuthJwtError, String(error));
              outcome = error;
            }
            if (outcome instanceof AuthJwtError) {
              const name = outcome.code.replace(/^ERR_AUTHJWT_/, '');
              assert.ok(
                expected.has(name),
                `refused with ${name}, but the oracle expected ${expected.size ? [...expected].join(', ') : 'success'}`,
              );
              refusedCount++;
              codes.add(name);
              continue;
            }
            assert.deepEqual([...expected], [], `issued, but the oracle expected ${[...expected].join(', ')}`);
            issued++;
            const c = await tts.verify(outcome.token);
            // txn, sub and aud never change along the chain.
            assert.deepEqual([c.txn, c.sub, c.aud], [root.claims.txn, root.claims.sub, root.claims.aud]);
            // Never wider: the requested scope, within the replaced token's, within the subject token's.
            const scope = c.scope.split(' ');
            assert.deepEqual(scope, requested);
            assert.ok(scope.every((v) => parent.scope.split(' ').includes(v) && SUBJECT_SCOPES.includes(v)));
            // Asserted context kept (members may only be added); the gateway's amount survives every hop.
            assert.ok(keepsMembers(parent.tctx, c.tctx));
            assert.equal(c.tctx.amount, 100);
            const { req_wl_chain: _chain, ...parentRctx } = parent.rctx;
            const { req_wl_chain: chain, ...rctx } = c.rctx;
            assert.deepEqual(rctx, parentRctx);
            // The chain of requesting workloads: the replaced token's, then its requester; bounded by the cap.
            assert.deepEqual(chain, [...((parent.rctx.req_wl_chain as string[] | undefined) ?? []), parent.req_wl]);
            assert.ok((chain as string[]).length <= MAX_REPLACEMENTS);
            assert.equal(c.req_wl, REQUESTERS[s.requester].spiffeId);
            // Short-lived from its own issuance.
            assert.deepEqual([c.iat, c.exp], [nowS, nowS + TTL_S]);
            parentToken = outcome.token;
            parent = c;
          }
        },
      ),
      { numRuns: 200 },
    );
    // The generator reaches both branches and every refusal (a property that only ever refuses proves nothing).
    assert.ok(issued > 50, `issued ${issued}`);
    assert.ok(refusedCount > 50, `refused ${refusedCount}`);
    for (const code of [
      'TXN_TOKEN_EXPIRED',
      'TXN_REPLACEMENT_NOT_ALLOWED',
      'TXN_REPLACEMENTS_EXHAUSTED',
      'TXN_SCOPE_WIDENED',
      'TXN_CONTEXT_NOT_ALLOWED',
      'TXN_CONTEXT_MODIFIED',
    ])
      assert.ok(codes.has(code), `the chains reached ${code}: ${[...codes].join(', ')}`);
  });
});
