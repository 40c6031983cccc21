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
import type { TxnTokenIssuer } from '../txn-tokens/issuer.ts';
import { subjectScopes } from '../txn-tokens/scopes.ts';
import { verifyTxnToken } from '../txn-tokens/verify.ts';
import type { EdgeTxnTokenService } from './txn-token-edge.ts';

export interface EdgeTxnTokenServiceDeps {
  exchange: Pick<TokenExchange, 'validateToken' | 'selectProvider' | 'checkPolicy' | 'subjectOf'>;
  issuer: Pick<TxnTokenIssuer, 'issue' | 'requesterOf' | 'trustDomain'>;
  /** The gateway as a requester: the configured client (`edge.txnToken.requester`) and its workload name. */
  requester: Caller | undefined;
  /** authjwt's published keys (verification of incoming Txn-Tokens), read per call so rotation applies at once. */
  keys: () => JSONWebKeySet;
  /** `iss` of authjwt's Txn-Tokens, when it sets one: then required on verification too. */
  tokenIssuer: string | undefined;
  clock?: (() => number) | undefined;
}

export function createEdgeTxnTokenService(deps: EdgeTxnTokenServiceDeps): EdgeTxnTokenService {
  const { exchange, issuer } = deps;
  return {
    async mint(input: BearerInput, request, options: CallOptions = {}) {
      exchange.validateToken(input.token);
      const provider = exchange.selectProvider(input);
      try {
        options.signal?.throwIfAborted();
        const requester = deps.requester;
        if (!requester) throw authJwtError('EDGE_TXN_TOKEN_MODE', { detail: 'mint without edge.txnToken.requester' });
        const identity = await provider.verifier.verify(input.token, { signal: options.signal });
        // The provider's own access policy holds at the edge as at every door (anonymous caller: the gateway is not the subject's client).
        exchange.checkPolicy(provider, identity);
        const available = subjectScopes({ scopes: identity.scopes, claims: identity.claims, strategy: identity.strategy });
        // No `scope` parameter at the edge: the Txn-Token carries the subject token's scope, within what the gateway may obtain.
        const allowed = issuer.requesterOf(requester)?.scopes;
        const requestedScope = available === undefined ? [] : available.filter((s) => !allowed || allowed.has(s));
        const result = await issuer.issue({
          subject: {
            sub: exchange.subjectOf(provider.id, identity.accountId),
            claims: identity.claims,
            scopes: available,
            provider: provider.id,
            strategy: identity.strategy,
            accountId: identity.accountId,
            expiresAt: identity.expiresAt,
          },
          requester,
          requestedScope,
          reqIp: request.reqIp,
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
      } catch (caught) {
        const error = options.signal?.aborted ? options.signal.reason : caught;
        if (isAuthJwtError(error) && error.metadata.provider === undefined) throw error.withMetadata({ provider: provider.id });
        throw error;
      }
    },
    async verify(token) {
      const claims = await verifyTxnToken(token, {
        trustDomain: issuer.trustDomain,
        keys: deps.keys,
        issuer: deps.tokenIssuer,
        ...(deps.clock ? { clock: deps.clock } : {}),
      });
      return { txn: claims.txn, claims };
    },
  };
}
