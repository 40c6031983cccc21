/**
 * The Txn-Token Request profile of RFC 8693 (the draft's "Requesting Txn-Tokens") as one
 * `requested_token_type` of the token endpoint: reads `audience`, `scope`, `request_details`,
 * `request_context`; verifies the subject token (a provider's token through the exchange use case,
 * or a Txn-Token of this trust domain for a replacement); asks {@link TxnTokenIssuer}.
 */
import { createHash } from 'node:crypto';
import { authJwtError, isAuthJwtError } from '../errors.ts';
import type { Caller, Clock } from '../exchange/ports.ts';
import type { BearerInput, ExchangeOptions, TokenExchange } from '../exchange/token-exchange.ts';
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE } from '../exchange/token-types.ts';
import type { TxnReport } from '../telemetry/exchange-events.ts';
import { TXN_RESPONSE_TOKEN_TYPE, TXN_TOKEN_TYPE } from './constants.ts';
import { parseContextParameter } from './context.ts';
import type { TxnIssueResult, TxnTokenIssuer } from './issuer.ts';
import { parseScope } from './scopes.ts';
import { verifyTxnToken, type VerifyTxnTokenOptions } from './verify.ts';

/** What the token endpoint passes besides the RFC 8693 input (src/http/token-endpoint.ts `TokenRequestExtras`). */
interface TxnRequestExtras {
  subjectTokenType: string;
  scope: string | undefined;
  requestDetails: string | undefined;
  requestContext: string | undefined;
  resourceSent: boolean;
  remoteAddress: string | undefined;
}

export interface TxnTokenDoorDeps {
  issuer: TxnTokenIssuer;
  exchange: Pick<TokenExchange, 'verifySubject'>;
  /** authjwt's published keys (replacements verify the presented Txn-Token against them). */
  keys: VerifyTxnTokenOptions['keys'];
  /** `iss` of authjwt's Txn-Tokens, checked on a presented one. */
  tokenIssuer: string | undefined;
  clock?: Clock | undefined;
}

/** The SHA-256 prefix logged for a Txn-Token (never the token: the draft's "Complete Txn-Tokens MUST NOT be logged"). */
export function txnTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

/**
 * What a door reports of an issued or verified Txn-Token: its `txn` and, computed only when read (the
 * success log line is at debug: at info and above nobody reads it, and a SHA-256 per call is not free),
 * the hash of the token.
 */
export function txnReport(txn: string, token: string): TxnReport {
  return new LazyTxnReport(txn, token);
}

class LazyTxnReport implements TxnReport {
  readonly txn: string;
  readonly #token: string;
  #hash: string | undefined;

  constructor(txn: string, token: string) {
    this.txn = txn;
    this.#token = token;
  }

  get tokenHash(): string {
    this.#hash ??= txnTokenHash(this.#token);
    return this.#hash;
  }
}

/** `rctx.authn`: the subject token's RFC 8176 `amr` values (space-separated), else its `acr`. */
export function authnOf(claims: Readonly<Record<string, unknown>>): string | undefined {
  const amr = Object.hasOwn(claims, 'amr') ? claims.amr : undefined;
  if (Array.isArray(amr) && amr.length > 0 && amr.every((v) => typeof v === 'string')) return amr.join(' ').slice(0, 256);
  const acr = Object.hasOwn(claims, 'acr') ? claims.acr : undefined;
  return typeof acr === 'string' && acr !== '' ? acr.slice(0, 256) : undefined;
}

/** The token endpoint's handler of `requested_token_type=urn:ietf:params:oauth:token-type:txn_token`. */
export function createTxnTokenRequestHandler(deps: TxnTokenDoorDeps) {
  const { issuer } = deps;
  const clock = deps.clock ?? Date.now;
  return {
    issuedTokenType: TXN_TOKEN_TYPE,
    tokenType: TXN_RESPONSE_TOKEN_TYPE,
    // The draft's subject token types: refresh tokens never (RFC 8693 types other than access_token / jwt
    // and the draft's self_signed / unsigned_json are not configured here).
    subjectTokenTypes: [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TXN_TOKEN_TYPE],
    parameters: ['scope', 'request_details', 'request_context'] as const,
    describe(caller: Caller, extras: TxnRequestExtras) {
      return {
        txnRequester: issuer.requesterOf(caller)?.client ?? 'other',
        txnKind: extras.subjectTokenType === TXN_TOKEN_TYPE ? ('replacement' as const) : ('new' as const),
      };
    },
    async exchange(input: BearerInput, options: ExchangeOptions, extras: TxnRequestExtras) {
      // The draft: `audience` REQUIRED, "MUST be set to the Trust Domain name".
      if (extras.resourceSent) throw authJwtError('TXN_TARGET_INVALID', { detail: 'resource' });
      if (!input.audience?.length) throw authJwtError('TOKEN_REQUEST_MISSING_PARAMETER', { detail: 'audience' });
      if (input.audience.length !== 1 || input.audience[0] !== issuer.trustDomain) throw authJwtError('TXN_TARGET_INVALID');
      if (extras.scope === undefined) throw authJwtError('TOKEN_REQUEST_MISSING_PARAMETER', { detail: 'scope' });
      if (input.actorToken) throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_PARAMETER', { detail: 'actor_token' });
      const requestedScope = parseScope(extras.scope);
      const requestDetails =
        extras.requestDetails === undefined ? undefined : parseContextParameter(extras.requestDetails, 'request_details');
      const requestContext =
        extras.requestContext === undefined ? undefined : parseContextParameter(extras.requestContext, 'request_context');
      const requester = input.caller!;
      // Who asks is settled before any provider is called: an unauthenticated or unknown requester costs nothing.
      if (requester.kind === 'none') throw authJwtError('TXN_REQUESTER_UNAUTHENTICATED');
      if (!issuer.requesterOf(requester))
        throw authJwtError('TXN_REQUESTER_NOT_ALLOWED', { detail: `client ${requester.id.slice(0, 128)}` });
      const common = { requester, requestedScope, requestDetails, requestContext, reqIp: extras.remoteAddress, subjectToken: input.token };

      let issued: TxnIssueResult;
      let provider: string;
      let strategy: string;
      if (extras.subjectTokenType === TXN_TOKEN_TYPE) {
        const parent = await verifyTxnToken(input.token, {
          trustDomain: issuer.trustDomain,
          keys: deps.keys,
          clock,
          issuer: deps.tokenIssuer,
        });
        options.signal?.throwIfAborted();
        issued = await issuer.issue({ ...common, parent });
        provider = '_txn_token';
        strategy = 'txn_token';
      } else {
        const { provider: p, identity, sub } = await deps.exchange.verifySubject(input, { signal: options.signal });
        options.signal?.throwIfAborted();
        issued = await issuer
          .issue({
            ...common,
            subject: {
              sub,
              claims: identity.claims,
              scopes: identity.scopes,
              provider: p.id,
              strategy: identity.strategy,
              accountId: identity.accountId,
              expiresAt: identity.expiresAt,
            },
            authn: authnOf(identity.claims),
          })
          .catch((error: unknown) => {
            // Named by the provider that verified the subject, for metrics and ErrorInfo.
            throw isAuthJwtError(error) && error.metadata.provider === undefined ? error.withMetadata({ provider: p.id }) : error;
          });
        provider = p.id;
        strategy = identity.strategy;
      }
      return {
        token: issued.token,
        provider,
        strategy,
        kid: issued.kid,
        expiresAt: issued.exp * 1000,
        claims: issued.claims,
        reused: false,
        txn: txnReport(issued.txn, issued.token),
      };
    },
  };
}
