/**
 * Builds the Transaction Token Service from the `txnTokens` configuration section: compiles each
 * requester's issuance policy and the computed `tctx` members (CEL, src/policy) once at start.
 */
import type { TxnTokensConfig } from '../config/txn-tokens-schema.ts';
import type { Clock, Signer } from '../exchange/ports.ts';
import { compilePolicy, PolicyCompileError } from '../policy/index.ts';
import { TxnTokenIssuer, type TxnRequesterPolicy } from './issuer.ts';

export function createTxnTokenIssuer(
  config: TxnTokensConfig,
  deps: { signer: Signer; issuer: string | undefined; clock?: Clock | undefined },
): TxnTokenIssuer {
  const requesters = new Map<string, TxnRequesterPolicy>();
  config.requesters.forEach((r, i) => {
    requesters.set(r.client, {
      client: r.client,
      allow: r.allow === undefined ? undefined : compilePolicy({ allow: r.allow }, { path: `txnTokens.requesters[${i}]`, lookups: [] }),
      scopes: r.scopes ? new Set(r.scopes) : undefined,
      requestDetails: new Set(r.requestDetails),
      requestContext: new Set(r.requestContext),
      replace: r.replace,
    });
  });
  let tctx: ReturnType<typeof compilePolicy> | undefined;
  try {
    tctx = Object.keys(config.tctx).length ? compilePolicy({ claims: config.tctx }, { path: 'txnTokens', lookups: [] }) : undefined;
  } catch (error) {
    // The policy module names computed members `<path>.claims.<name>`; here they are `txnTokens.tctx.<name>`.
    if (error instanceof PolicyCompileError)
      throw new PolicyCompileError(error.issues.map((i) => ({ ...i, path: i.path.replace(/^txnTokens\.claims\./, 'txnTokens.tctx.') })));
    throw error;
  }
  return new TxnTokenIssuer({
    settings: { trustDomain: config.trustDomain, ttl: config.ttl, maxReplacements: config.maxReplacements, issuer: deps.issuer },
    requesters,
    tctx,
    signer: deps.signer,
    clock: deps.clock ?? undefined,
  });
}
