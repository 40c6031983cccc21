/**
 * The {@link EdgeTxnTokenService} port over the exchange use case and the Transaction Token Service
 * (issue 22): at the edge, the provider token is proven exactly as an exchange proves it (provider
 * choice, the verifier with its cache, the provider's access policy, the subject template), then the
 * TTS issues a Txn-Token for that subject, requested by the gateway (`edge.txnToken.requester`).
 * Nothing here is cached: every call issues a new `txn`.
 */
import type { JSONWebKeySet } from 'jose';
import { authJwtError, isAuthJwtError } from '../errors.ts';
import type { Caller, CallOptions } from '../exchange/ports.ts';
import type { BearerInput, TokenExchange } from '../exchange/token-exchange.ts';
import { authnOf } from '../txn-tokens/door.ts';
import type { TxnTokenIssuer } from '../txn-tokens/issuer.ts';
import { verifyTxnToken } from '../txn-tokens/verify.ts';
import type { EdgeTxnTokenService } from './txn-token-edge.ts';

export interface EdgeTxnTokenServiceDeps {
  exchange: Pick<TokenExchange, 'verifySubject'>;
  issuer: Pick<TxnTokenIssuer, 'issue' | 'trustDomain'>;
  /** The gateway as a requester: the configured client (`edge.txnToken.requester`); undefined: mint is refused. */
  requester: Caller | undefined;
  /** authjwt's published keys (verification of incoming Txn-Tokens), read per call so rotation applies at once. */
  keys: () => { readonly keys: readonly object[] };
  /** `iss` of authjwt's Txn-Tokens, when it sets one: then required on verification too. */
  tokenIssuer: string | undefined;
  clock?: (() => number) | undefined;
}

export function createEdgeTxnTokenService(deps: EdgeTxnTokenServiceDeps): EdgeTxnTokenService {
  const { exchange, issuer } = deps;
  return {
    async mint(input: BearerInput, request, options: CallOptions = {}) {
      const requester = deps.requester;
      if (!requester) throw authJwtError('EDGE_TXN_TOKEN_MODE', { detail: 'mint without edge.txnToken.requester' });
      // As every door proves a token: provider choice, the verifier (and its cache), the provider's own policy.
      const { provider, identity, sub } = await exchange.verifySubject(input, options);
      try {
        const result = await issuer.issue({
          subject: {
            sub,
            claims: identity.claims,
            scopes: identity.scopes,
            provider: provider.id,
            strategy: identity.strategy,
            accountId: identity.accountId,
            expiresAt: identity.expiresAt,
          },
          requester,
          // No `scope` parameter at the edge: the subject token's scope, within what the gateway may obtain.
          requestedScope: undefined,
          reqIp: request.reqIp,
          // `rctx.authn` as the token endpoint sets it (the subject token's amr, else acr).
          authn: authnOf(identity.claims),
          subjectToken: input.token,
        });
        return {
          token: result.token,
          txn: result.txn,
          exp: result.exp,
          claims: result.claims,
          provider: provider.id,
          strategy: identity.strategy,
          kid: result.kid,
        };
      } catch (error) {
        if (isAuthJwtError(error) && error.metadata.provider === undefined) throw error.withMetadata({ provider: provider.id });
        throw error;
      }
    },
    async verify(token) {
      const claims = await verifyTxnToken(token, {
        trustDomain: issuer.trustDomain,
        // Read-only as published; jose only reads it.
        keys: deps.keys as () => JSONWebKeySet,
        issuer: deps.tokenIssuer,
        ...(deps.clock ? { clock: deps.clock } : {}),
      });
      return { txn: claims.txn, claims };
    },
  };
}
