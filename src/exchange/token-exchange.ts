import { hash, randomUUID } from 'node:crypto';
import { authJwtError, isAuthJwtError } from '../errors.ts';
import { readPath, sanitizeClaimValue } from './claims.ts';
import { createIssuerPeek } from './issuer-peek.ts';
import { mayActAdmits, nestAct, readAct, readMayAct, type ActClaim, type ActorName } from './delegation.ts';
import {
  ANONYMOUS_CALLER,
  LOOKUP_FORBIDDEN,
  LOOKUP_SCOPES,
  NO_ACTOR,
  type CallOptions,
  type Caller,
  type Clock,
  type ExchangeProvider,
  type LookupName,
  type MintedClaims,
  type MintedTokenCache,
  type PolicyActor,
  type ProofStrategy,
  type ProviderDirectory,
  type Signer,
  type VerifiedIdentity,
} from './ports.ts';

/** The `Account` of a GetJWT request, as received (untrusted). */
export interface AccountInput {
  provider: string;
  type: string;
  providerAccountId: string;
  accessToken: string;
}

/** A bearer token presented at the edge or to the token endpoint (untrusted). */
export interface BearerInput {
  token: string;
  /** A provider the caller named explicitly (RFC 8693 `subject_issuer`): must exist. */
  provider?: string | undefined;
  /** A provider a gateway header or route names: used when the token's `iss` names none. */
  providerHint?: string | undefined;
  /** Used when nothing else names a provider. */
  defaultProvider?: string | undefined;
  /** Requested audience (RFC 8693 downscoping): a non-empty subset of the provider's audience. */
  audience?: readonly string[] | undefined;
  /** RFC 8693 `actor_token` (untrusted); `jwt`: declared `…:jwt`, so only an OIDC provider its `iss` names verifies it. */
  actorToken?: { token: string; jwt: boolean } | undefined;
  /** The authenticated requester (token endpoint client authentication); absent: anonymous. Never from the request body. */
  caller?: Caller | undefined;
  /**
   * The subject token is declared a self-signed workload JWT (token endpoint `…:self_signed`): only a
   * `selfSigned` provider verifies it, and a `selfSigned` provider verifies nothing else.
   */
  selfSigned?: boolean | undefined;
}

/**
 * Where the actor of a delegation comes from (RFC 8693): `token` (default): an `actor_token`, verified
 * like a subject token; `caller`: the authenticated client acts (an `actor_token` is refused); `none`: no
 * delegation (an `actor_token` is refused). A subject token's `act` survives in every mode.
 */
export type DelegationActorSource = 'none' | 'token' | 'caller';

export interface ExchangeSettings {
  issuer: string;
  subjectTemplate: string;
  /** JWS header `typ` of minted tokens: `at+jwt` (RFC 9068) or `JWT`. */
  tokenType: string;
  limits: { maxAccessTokenBytes: number; maxAccountIdBytes: number };
  /** Default `token`. */
  delegationActor?: DelegationActorSource | undefined;
}

export interface ExchangeOptions extends CallOptions {
  /** Reuse a minted token for the same subject token and policy result (edge doors; GetJWT when configured). */
  reuseMinted?: boolean;
}

export interface ExchangeResult {
  token: string;
  provider: string;
  strategy: ProofStrategy;
  kid: string;
  /** ms since epoch. */
  expiresAt: number;
  claims: MintedClaims;
  /** True when a minted token was reused from the minted-token cache. */
  reused: boolean;
  /** `act.sub` of the minted token (the current actor), for logs and traces; undefined without `act`. */
  actor?: string | undefined;
}

/** The actor of a delegated exchange, once proven. */
interface ProvenActor {
  /** The minted `act` members for it (RFC 8693 §4.1). */
  act: Omit<ActClaim, 'act'>;
  /** The names `may_act` may use for it. */
  names: ActorName[];
  /** Its own delegation chain (an actor token with `act`). */
  prior: ActClaim | undefined;
  policy: PolicyActor;
  /** ms since epoch: the actor token's expiry, where known. */
  expiresAt: number | undefined;
}

/** What one exchange needs besides the subject token. */
interface RunInput {
  boundAccountId: string | undefined;
  audience: readonly string[];
  caller: Caller;
  actorToken: { token: string; jwt: boolean } | undefined;
}

export interface TokenExchangeDeps {
  providers: ProviderDirectory;
  signer: Signer;
  settings: ExchangeSettings;
  clock?: Clock;
  mintedTokens?: MintedTokenCache | undefined;
}

const MAX_PROVIDER_ID_BYTES = 64;

/**
 * What an exchange step that failed after the provider was chosen throws. Once the caller's signal fired,
 * whatever the abandoned step threw is reported as the abort itself (the door's reason: cancelled,
 * deadline), so no door has to sort that out; and every failure names the provider (a configured id) for
 * metrics and ErrorInfo.
 */
function failureAfterSelection(provider: ExchangeProvider, signal: AbortSignal | undefined, caught: unknown): unknown {
  const error = signal?.aborted ? signal.reason : caught;
  return isAuthJwtError(error) && error.metadata.provider === undefined ? error.withMetadata({ provider: provider.id }) : error;
}
const SUBJECT_PROVIDER = '{provider}';
const SUBJECT_ACCOUNT = '{accountId}';
// C0/C1 controls, DEL, and Unicode line/paragraph separators: never part of an account id.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// RFC 6750 b64token and the other token formats seen in practice use visible ASCII only.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;
/** A provider id from a request (account, header, route, `subject_issuer`) that no configured id can be. */
const isMalformedProviderId = (id: string) => Buffer.byteLength(id) > MAX_PROVIDER_ID_BYTES || CONTROL_CHARS.test(id);

/**
 * The exchange use case: selectProvider → verifyUpstream → bindAccount → checkPolicy → mapClaims →
 * mint. Transport-free: every front door (gRPC GetJWT, ext_authz, forward-auth, the RFC 8693 token
 * endpoint) calls it and maps its {@link AuthJwtError}s to its own statuses.
 */
export class TokenExchange {
  readonly #providers: ProviderDirectory;
  readonly #signer: Signer;
  readonly #settings: ExchangeSettings;
  readonly #clock: Clock;
  readonly #minted: MintedTokenCache | undefined;
  /** The subject template as literal text and placeholders, in order. */
  readonly #subjectParts: readonly string[];
  /** The unverified `iss` of a bearer JWT, remembered per payload segment (issue 24). */
  readonly #issuerPeek = createIssuerPeek();

  constructor(deps: TokenExchangeDeps) {
    this.#providers = deps.providers;
    this.#signer = deps.signer;
    this.#settings = deps.settings;
    this.#clock = deps.clock ?? Date.now;
    this.#minted = deps.mintedTokens;
    this.#subjectParts = deps.settings.subjectTemplate.split(/(\{provider\}|\{accountId\})/).filter((part) => part !== '');
  }

  /** GetJWT: the account names the provider, and the proven account must equal `providerAccountId`. */
  async exchangeAccount(account: AccountInput | null | undefined, options: ExchangeOptions = {}): Promise<ExchangeResult> {
    const input = this.validateAccount(account);
    const provider = this.#providers.get(input.provider);
    if (!provider) throw authJwtError('REQUEST_UNKNOWN_PROVIDER');
    if (provider.selfSigned) throw authJwtError('REQUEST_SELF_SIGNED_NOT_ACCEPTED', { metadata: { provider: provider.id } });
    if (!provider.accountTypes.includes(input.type)) throw authJwtError('REQUEST_TYPE_MISMATCH', { metadata: { provider: provider.id } });
    return this.#run(
      provider,
      input.accessToken,
      { boundAccountId: input.providerAccountId, audience: provider.audience, caller: ANONYMOUS_CALLER, actorToken: undefined },
      options,
    );
  }

  /** Edge and token endpoint: the token names the account; the provider comes from its `iss`, the caller or config. */
  async exchangeBearer(input: BearerInput, options: ExchangeOptions = {}): Promise<ExchangeResult> {
    this.validateToken(input.token);
    if (input.actorToken) {
      if ((this.#settings.delegationActor ?? 'token') !== 'token') throw authJwtError('TOKEN_REQUEST_ACTOR_NOT_ACCEPTED');
      this.validateToken(input.actorToken.token);
    }
    const provider = this.#selectSubjectProvider(input);
    let audience = provider.audience;
    if (input.audience?.length) {
      if (!input.audience.every((a) => provider.audience.includes(a)))
        throw authJwtError('REQUEST_INVALID_AUDIENCE', { metadata: { provider: provider.id } });
      audience = [...new Set(input.audience)];
    }
    return this.#run(
      provider,
      input.token,
      { boundAccountId: undefined, audience, caller: input.caller ?? ANONYMOUS_CALLER, actorToken: input.actorToken },
      options,
    );
  }

  /**
   * The subject of a Transaction Token request (issue 22): selectProvider → verifyUpstream → checkPolicy
   * (the provider's own rules, which decide who gets any token), and the subject template applied. No
   * delegation and no mint: the Transaction Token Service (src/txn-tokens) issues from this.
   */
  async verifySubject(
    input: BearerInput,
    options: CallOptions = {},
  ): Promise<{ provider: ExchangeProvider; identity: VerifiedIdentity; sub: string }> {
    this.validateToken(input.token);
    const provider = this.#selectSubjectProvider(input);
    try {
      options.signal?.throwIfAborted();
      const identity = await provider.verifier.verify(input.token, { signal: options.signal });
      this.checkPolicy(provider, identity, input.caller ?? ANONYMOUS_CALLER, NO_ACTOR);
      return { provider, identity, sub: this.#subjectOf(provider.id, identity.accountId) };
    } catch (caught) {
      throw failureAfterSelection(provider, options.signal, caught);
    }
  }

  /**
   * The provider of a bearer subject token (issue 22): a workload's own JWT is taken only where it is
   * declared one (`…:self_signed`), and only by its kind of provider — which verifies nothing else.
   */
  #selectSubjectProvider(input: BearerInput): ExchangeProvider {
    const provider = this.selectProvider(input);
    if (Boolean(provider.selfSigned) !== Boolean(input.selfSigned))
      throw authJwtError('REQUEST_SELF_SIGNED_NOT_ACCEPTED', { metadata: { provider: provider.id } });
    return provider;
  }

  async #run(provider: ExchangeProvider, token: string, input: RunInput, options: ExchangeOptions): Promise<ExchangeResult> {
    try {
      options.signal?.throwIfAborted();
      const identity = await provider.verifier.verify(token, { signal: options.signal });
      if (input.boundAccountId !== undefined) this.bindAccount(identity, input.boundAccountId);
      const { act, actor } = await this.delegate(provider, identity, input, options);
      const computed = this.checkPolicy(provider, identity, input.caller, actor?.policy ?? NO_ACTOR);
      const claims = { ...this.mapClaims(provider, identity), ...computed, ...(act ? { act } : {}) };
      // A delegated token lives no longer than the actor's token either (where its expiry is known).
      const expiresAt = minDefined(identity.expiresAt, actor?.expiresAt);
      const minting = expiresAt === identity.expiresAt ? identity : { ...identity, expiresAt };
      return await this.mint(provider, minting, claims, input.audience, options.reuseMinted ? token : undefined);
    } catch (caught) {
      throw failureAfterSelection(provider, options.signal, caught);
    }
  }

  validateAccount(account: AccountInput | null | undefined): AccountInput {
    if (!account) throw authJwtError('REQUEST_MISSING_ACCOUNT');
    const { provider, type, providerAccountId, accessToken } = account;
    if (typeof provider !== 'string' || provider.length === 0) throw authJwtError('REQUEST_MISSING_PROVIDER');
    if (isMalformedProviderId(provider)) throw authJwtError('REQUEST_INVALID_PROVIDER');
    if (typeof type !== 'string' || type.length === 0) throw authJwtError('REQUEST_MISSING_TYPE');
    if (type !== 'oauth' && type !== 'oidc') throw authJwtError('REQUEST_INVALID_TYPE');
    if (typeof providerAccountId !== 'string' || providerAccountId.length === 0) throw authJwtError('REQUEST_MISSING_ACCOUNT_ID');
    const maxId = this.#settings.limits.maxAccountIdBytes;
    if (Buffer.byteLength(providerAccountId) > maxId)
      throw authJwtError('REQUEST_ACCOUNT_ID_TOO_LONG', { metadata: { limit: String(maxId) } });
    if (CONTROL_CHARS.test(providerAccountId)) throw authJwtError('REQUEST_INVALID_ACCOUNT_ID');
    if (typeof accessToken !== 'string' || accessToken.length === 0) throw authJwtError('REQUEST_MISSING_ACCESS_TOKEN');
    this.validateToken(accessToken);
    return { provider, type, providerAccountId, accessToken };
  }

  validateToken(token: string): void {
    if (typeof token !== 'string' || token.length === 0) throw authJwtError('REQUEST_MISSING_TOKEN');
    const max = this.#settings.limits.maxAccessTokenBytes;
    if (token.length > max) throw authJwtError('REQUEST_ACCESS_TOKEN_TOO_LONG', { metadata: { limit: String(max) } });
    if (!TOKEN_CHARS.test(token)) throw authJwtError('REQUEST_INVALID_ACCESS_TOKEN');
  }

  /** Explicit provider, else the configured provider whose issuer the JWT names, else the hint, else the default. */
  selectProvider(input: BearerInput): ExchangeProvider {
    const byId = (id: string) => {
      if (isMalformedProviderId(id)) throw authJwtError('REQUEST_INVALID_PROVIDER');
      const provider = this.#providers.get(id);
      if (!provider) throw authJwtError('REQUEST_UNKNOWN_PROVIDER');
      return provider;
    };
    if (input.provider) return byId(input.provider);
    const iss = this.#issuerPeek.issuerOf(input.token);
    const byIssuer = iss === undefined ? undefined : this.#providers.byIssuer(iss);
    if (byIssuer) return byIssuer;
    if (input.providerHint) return byId(input.providerHint);
    if (input.defaultProvider) return byId(input.defaultProvider);
    throw authJwtError('REQUEST_NO_PROVIDER');
  }

  /**
   * RFC 8693 delegation, the same on every door: the subject token's `act` chain survives; an actor
   * (an `actor_token` verified like a subject token, or the authenticated caller, per
   * `delegationActor`) is nested in front of it; a subject token's `may_act` admits only the actors it
   * names and is never exchanged without one (keycloak#52691).
   */
  async delegate(
    provider: ExchangeProvider,
    identity: VerifiedIdentity,
    input: Pick<RunInput, 'caller' | 'actorToken'>,
    options: CallOptions = {},
  ): Promise<{ act: ActClaim | undefined; actor: ProvenActor | undefined }> {
    const claims = delegationClaimsOf(identity);
    const subjectAct = readAct(claims?.act, this.#foreignIssuer(provider.issuer));
    const mayAct = readMayAct(claims?.mayAct);
    let actor: ProvenActor | undefined;
    if (input.actorToken) actor = await this.#proveActorToken(provider, input.actorToken, options);
    else if ((this.#settings.delegationActor ?? 'token') === 'caller' && input.caller.kind !== 'none')
      actor = this.#callerActor(input.caller);

    if (mayAct) {
      if (!actor) throw authJwtError('DELEGATION_ACTOR_REQUIRED');
      if (!mayActAdmits(mayAct, provider.issuer, actor.names))
        throw authJwtError('DELEGATION_ACTOR_NOT_ALLOWED', { detail: `actor ${actor.act.sub.slice(0, 200)}` });
    }
    if (!actor) return { act: subjectAct, actor: undefined };
    if (subjectAct && actor.prior) throw authJwtError('DELEGATION_AMBIGUOUS_CHAIN');
    return { act: nestAct(actor.act, subjectAct ?? actor.prior), actor };
  }

  async #proveActorToken(
    subjectProvider: ExchangeProvider,
    input: { token: string; jwt: boolean },
    options: CallOptions,
  ): Promise<ProvenActor> {
    // A JWT names its provider by `iss`; an opaque actor token is verified by the subject's provider.
    const provider = this.selectProvider({ token: input.token, defaultProvider: input.jwt ? undefined : subjectProvider.id });
    // No actor_token_type names self-signed JWTs: a selfSigned provider never verifies an actor.
    if (provider.selfSigned)
      throw authJwtError('REQUEST_SELF_SIGNED_NOT_ACCEPTED', { metadata: { provider: provider.id, token: 'actor' } });
    let identity: VerifiedIdentity;
    try {
      identity = await provider.verifier.verify(input.token, { signal: options.signal });
    } catch (error) {
      // Named as the actor's failure in ErrorInfo and logs, with the provider that refused it.
      throw isAuthJwtError(error) ? error.withMetadata({ provider: provider.id, token: 'actor' }) : error;
    }
    const sub = this.#subjectOf(provider.id, identity.accountId);
    const clientId = identity.clientId;
    return {
      act: { sub, ...(clientId !== undefined ? { client_id: clientId } : {}) },
      names: [
        { sub: identity.accountId, iss: provider.issuer, clientId },
        { sub, iss: this.#settings.issuer, clientId },
      ],
      prior: readAct(delegationClaimsOf(identity)?.act, this.#foreignIssuer(provider.issuer)),
      policy: { kind: 'token', sub, iss: '', provider: provider.id, clientId: clientId ?? '' },
      expiresAt: identity.expiresAt,
    };
  }

  #callerActor(caller: Caller): ProvenActor {
    return {
      act: { sub: caller.subject, ...(caller.issuer ? { iss: caller.issuer } : {}), client_id: caller.id },
      names: [
        { sub: caller.subject, iss: caller.issuer || this.#settings.issuer, clientId: caller.id, spiffeId: caller.spiffeId || undefined },
      ],
      prior: undefined,
      policy: { kind: 'caller', sub: caller.subject, iss: caller.issuer, provider: '', clientId: caller.id },
      expiresAt: undefined,
    };
  }

  /** The issuer to write into an upstream `act` that names none; authjwt's own tokens need none. */
  #foreignIssuer(issuer: string | undefined): string | undefined {
    return issuer === this.#settings.issuer ? undefined : issuer;
  }

  /** `sub` of minted tokens: the subject template, account ids copied verbatim. */
  #subjectOf(providerId: string, accountId: string): string {
    // The template split once (not two replaceAll per call); values are concatenated, never parsed as patterns.
    let out = '';
    for (const part of this.#subjectParts) out += part === SUBJECT_PROVIDER ? providerId : part === SUBJECT_ACCOUNT ? accountId : part;
    return out;
  }

  /** The provider's account id must equal provider_account_id exactly (no case or Unicode folding). */
  bindAccount(identity: VerifiedIdentity, providerAccountId: string): void {
    if (identity.accountId !== providerAccountId) throw authJwtError('UPSTREAM_ACCOUNT_MISMATCH');
  }

  /** Applies the provider's access policy (when it has one); returns its computed claims. */
  checkPolicy(
    provider: ExchangeProvider,
    identity: VerifiedIdentity,
    caller: Caller = ANONYMOUS_CALLER,
    actor: PolicyActor = NO_ACTOR,
  ): Record<string, unknown> {
    const policy = provider.policy;
    if (!policy) return {};
    const lookups: Partial<Record<LookupName, readonly string[]>> = {};
    const refused: LookupName[] = [];
    for (const name of policy.needs) {
      const found = identity.lookups?.[name];
      if (found === LOOKUP_FORBIDDEN) refused.push(name);
      // The verifier was built to fetch what the policy needs; an absent lookup is a wiring bug: fail closed.
      else if (found === undefined) throw authJwtError('POLICY_ERROR', { detail: `${name}: lookup missing`, metadata: { lookup: name } });
      else lookups[name] = found;
    }
    // A refused lookup is left out: the policy names the rule that needed it (and denies).
    const decision = policy.evaluate({
      claims: identity.claims,
      account: { provider: provider.id, id: identity.accountId },
      lookups,
      // Absent means anonymous / no actor (GetJWT and the edge doors never have them).
      ...(caller.kind !== 'none' ? { caller } : {}),
      ...(actor.kind !== 'none' ? { actor } : {}),
      ...(identity.scopes !== undefined ? { scopes: identity.scopes } : {}),
    });
    if (refused.length) {
      const rule = decision.allowed ? undefined : decision.rule;
      const scopes = [...new Set(refused.map((n) => LOOKUP_SCOPES[n]))].join(', ');
      throw authJwtError('POLICY_LOOKUP_FORBIDDEN', {
        detail: `${rule ? `rule ${rule}: ` : ''}the provider refused ${refused.join(', ')} (403/404): the token lacks the ${scopes} scope`,
        metadata: { lookup: refused.join(','), ...(rule ? { rule } : {}) },
      });
    }
    if (decision.allowed) return decision.claims;
    throw authJwtError(decision.reason === 'error' ? 'POLICY_ERROR' : 'POLICY_DENIED', {
      detail: decision.detail ? `rule ${decision.rule}: ${decision.detail}` : `rule ${decision.rule}`,
      metadata: { rule: decision.rule },
    });
  }

  mapClaims(provider: ExchangeProvider, identity: VerifiedIdentity): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [claim, path] of Object.entries(provider.claimPaths)) {
      const value = sanitizeClaimValue(readPath(identity.claims, path));
      if (value !== undefined) out[claim] = value;
    }
    return out;
  }

  async mint(
    provider: ExchangeProvider,
    identity: VerifiedIdentity,
    profileClaims: Record<string, unknown>,
    audience: readonly string[] = provider.audience,
    reuseFor?: string,
  ): Promise<ExchangeResult> {
    const now = this.#clock();
    const subject = this.#subjectOf(provider.id, identity.accountId);
    const aud = audience.length === 1 ? audience[0]! : [...audience];
    const clientId = identity.clientId ?? provider.defaultClientId;

    let cacheKey: string | undefined;
    if (reuseFor !== undefined && this.#minted) {
      cacheKey = mintedCacheKey(provider.id, reuseFor, subject, aud, clientId, profileClaims);
      const hit = this.#minted.get(cacheKey, now);
      if (hit)
        return {
          token: hit.token,
          provider: provider.id,
          strategy: identity.strategy,
          kid: hit.kid,
          expiresAt: hit.expiresAt,
          claims: hit.claims,
          reused: true,
          actor: actorOf(hit.claims),
        };
    }

    const iat = Math.floor(now / 1000);
    let exp = iat + Math.floor(provider.tokenTtl / 1000);
    if (provider.capToUpstreamExpiry && identity.expiresAt !== undefined) {
      exp = Math.min(exp, Math.floor(identity.expiresAt / 1000));
      // Within the clock tolerance an upstream token may be a little past its exp: do not mint a dead token.
      if (exp <= iat) throw authJwtError('UPSTREAM_EXPIRED', { detail: 'upstream token expires before a minted token could be used' });
    }
    const claims: MintedClaims = {
      ...profileClaims,
      iss: this.#settings.issuer,
      aud,
      sub: subject,
      iat,
      nbf: iat,
      exp,
      jti: randomUUID(),
      provider: provider.id,
      client_id: clientId,
    };
    const { token, kid } = await this.#signer.sign(claims, { typ: this.#settings.tokenType });
    const result = {
      token,
      provider: provider.id,
      strategy: identity.strategy,
      kid,
      expiresAt: exp * 1000,
      claims,
      reused: false,
      actor: actorOf(claims),
    };
    if (cacheKey !== undefined) this.#minted!.set(cacheKey, { token, kid, expiresAt: result.expiresAt, claims });
    return result;
  }
}

/** The token's `act` / `may_act` as its verifier vouched for them (see {@link VerifiedIdentity.delegation}). */
function delegationClaimsOf(identity: VerifiedIdentity): { act: unknown; mayAct: unknown } | undefined {
  if (identity.delegation) return identity.delegation;
  if (identity.strategy === 'user-api') return undefined;
  const own = (name: string) => (Object.hasOwn(identity.claims, name) ? identity.claims[name] : undefined);
  return { act: own('act'), mayAct: own('may_act') };
}

function actorOf(claims: MintedClaims): string | undefined {
  const act = claims.act as ActClaim | undefined;
  return act?.sub;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/** SHA-256 over everything the minted token depends on: never the token itself as a key. */
function mintedCacheKey(
  provider: string,
  token: string,
  subject: string,
  aud: unknown,
  clientId: string,
  claims: Record<string, unknown>,
): string {
  // One-shot hash: on every edge request (a cache hit included), and half the cost of createHash().update().
  return hash('sha256', `${provider}\0${token}\0${JSON.stringify([subject, aud, clientId, claims])}`, 'base64url');
}
