/**
 * The Transaction Token Service's issuance (draft-ietf-oauth-transaction-tokens, "Txn-Token Request
 * Processing" and "Txn-Token as a subject_token"): from a verified subject (or a verified Txn-Token
 * being replaced) and the AUTHENTICATED requester, the claims of a Txn-Token, signed with authjwt's
 * current key and `typ: txntoken+jwt`. Transport-free: the token endpoint (and the edge doors) call it.
 */
import { randomUUID } from 'node:crypto';
import { authJwtError } from '../errors.ts';
import type { AccessPolicy, Caller, Clock, MintedClaims, PolicyDecision, ProofStrategy, Signer } from '../exchange/ports.ts';
import { REQUESTER_CHAIN_MEMBER, TTS_RCTX_MEMBERS, TXN_TOKEN_JWS_TYPE } from './constants.ts';
import { type JsonObject, mergeAllowedMembers } from './context.ts';
import type { TxnTokenClaims } from './verify.ts';

/** What one configured requester may do (`txnTokens.requesters[]`, compiled). */
export interface TxnRequesterPolicy {
  /** The registered client id; the `requester` metric label. */
  client: string;
  /** Issuance rules in CEL over the subject (`claims`, `account`, `caller`); undefined: every subject. */
  allow: AccessPolicy | undefined;
  /** Scope values this requester may obtain; undefined: any (within the subject's scope). */
  scopes: ReadonlySet<string> | undefined;
  /** `request_details` members it may set (copied into `tctx`). */
  requestDetails: ReadonlySet<string>;
  /** `request_context` members it may set (copied into `rctx`); `req_ip` relays the originating address. */
  requestContext: ReadonlySet<string>;
  /** May present a Txn-Token as `subject_token`. */
  replace: boolean;
}

export interface TxnTokenSettings {
  /** `aud` of every Txn-Token. */
  trustDomain: string;
  /** Lifetime, ms. */
  ttl: number;
  /** Replacements per transaction. */
  maxReplacements: number;
  /** `iss` of Txn-Tokens (optional in the draft; set so verifiers can find the JWKS by discovery). */
  issuer: string | undefined;
}

/** The verified subject of a new transaction. */
export interface TxnSubject {
  /** `sub` of the Txn-Token: the subject template applied (unique within the trust domain). */
  sub: string;
  /** The provider's verified claims (CEL `claims`). */
  claims: Readonly<Record<string, unknown>>;
  /** The subject token's scopes as its verifier determined them (`VerifiedIdentity.scopes`); undefined: undeterminable, refused. */
  scopes: readonly string[] | undefined;
  provider: string;
  strategy: ProofStrategy;
  /** The provider's account id (CEL `account.id`); default `sub`. */
  accountId?: string | undefined;
  /** ms since epoch, when known: an expired subject token never yields a Txn-Token. */
  expiresAt?: number | undefined;
}

export interface TxnIssueInput {
  /** A new transaction's subject; exactly one of `subject` and `parent`. */
  subject?: TxnSubject | undefined;
  /** The verified claims of the Txn-Token being replaced. */
  parent?: TxnTokenClaims | undefined;
  /** The authenticated requester (client authentication), never from the request body. */
  requester: Caller;
  /**
   * The `scope` parameter's values (the token endpoint requires it, as the draft does). Undefined (a
   * door without a scope parameter, e.g. the edge): every scope the subject holds that the requester may get.
   */
  requestedScope?: readonly string[] | undefined;
  requestDetails?: JsonObject | undefined;
  requestContext?: JsonObject | undefined;
  /** The address the request was observed from (`rctx.req_ip`). */
  reqIp?: string | undefined;
  /** How the subject authenticated (`rctx.authn`, RFC 8176 values), when known. */
  authn?: string | undefined;
  /** The presented subject token: never copied into the Txn-Token (checked). */
  subjectToken?: string | undefined;
}

export interface TxnIssueResult {
  token: string;
  txn: string;
  /** Seconds since epoch. */
  exp: number;
  kid: string;
  claims: SignedTxnClaims;
  /** The configured requester (bounded: a metric label). */
  requester: string;
  /** Replacements of this transaction so far, this one included (0 for a new transaction). */
  replacements: number;
}

export interface TxnTokenIssuerDeps {
  settings: TxnTokenSettings;
  requesters: ReadonlyMap<string, TxnRequesterPolicy>;
  /** Computed `tctx` members (CEL over the subject). */
  tctx: AccessPolicy | undefined;
  signer: Signer;
  clock?: Clock;
}

/** A Txn-Token claim set carries registered names the Signer port expects (`jti`: one per issued token). */
type SignedTxnClaims = TxnTokenClaims & MintedClaims;

export class TxnTokenIssuer {
  readonly #settings: TxnTokenSettings;
  readonly #requesters: ReadonlyMap<string, TxnRequesterPolicy>;
  readonly #tctx: AccessPolicy | undefined;
  readonly #signer: Signer;
  readonly #clock: Clock;
  /** Per requester: the `request_context` members it may set besides the TTS's own (computed once, not per request). */
  readonly #contextAllowed: ReadonlyMap<TxnRequesterPolicy, ReadonlySet<string>>;
  /**
   * Computed `tctx` members of a new transaction, by the subject's claims object (a verification-cache
   * entry's: the same object on every hit, gone with the entry) and the requester (every member of its
   * Caller, as CEL sees them). CEL over the same input gives the same values (its input has no clock),
   * so `tctx` is evaluated once per cached subject and requester; any other input is evaluated as before.
   */
  readonly #tctxCache = new WeakMap<object, Map<string, ComputedTctx>>();
  /** A requester's members as a cache key, per Caller object (the edge's gateway is one object). */
  readonly #callerKeys = new WeakMap<Caller, string>();

  constructor(deps: TxnTokenIssuerDeps) {
    this.#settings = deps.settings;
    this.#requesters = deps.requesters;
    this.#contextAllowed = new Map(
      [...deps.requesters.values()].map((r) => {
        const allowed = new Set([...r.requestContext].filter((k) => !TTS_RCTX_MEMBERS.has(k)));
        // `req_ip` is taken from the request (or, on a replacement, must equal the transaction's: merged like any member).
        if (r.requestContext.has('req_ip')) allowed.add('req_ip');
        return [r, allowed];
      }),
    );
    this.#tctx = deps.tctx;
    this.#signer = deps.signer;
    this.#clock = deps.clock ?? Date.now;
  }

  get trustDomain(): string {
    return this.#settings.trustDomain;
  }

  /** The configured requester for an authenticated caller; `undefined` for anyone else. */
  requesterOf(caller: Caller): TxnRequesterPolicy | undefined {
    // A Map: an attacker-chosen id never reaches a prototype.
    return caller.kind === 'none' ? undefined : this.#requesters.get(caller.id);
  }

  async issue(input: TxnIssueInput): Promise<TxnIssueResult> {
    const { parent, subject } = input;
    if ((parent === undefined) === (subject === undefined)) throw new TypeError('issue() needs exactly one of subject and parent');
    // The draft: "MUST validate the requesting workload client authentication".
    if (input.requester.kind === 'none') throw authJwtError('TXN_REQUESTER_UNAUTHENTICATED');
    const requester = this.requesterOf(input.requester);
    if (!requester) throw authJwtError('TXN_REQUESTER_NOT_ALLOWED', { detail: `client ${input.requester.id.slice(0, 128)}` });
    const metadata = { requester: requester.client };
    if (parent && !requester.replace) throw authJwtError('TXN_REPLACEMENT_NOT_ALLOWED', { metadata });

    const now = this.#clock();
    const iat = Math.floor(now / 1000);

    let sub: string;
    let available: readonly string[] | undefined;
    let tctxBase: JsonObject;
    let rctxBase: JsonObject;
    let chain: string[] = [];
    let txn: string;
    let policyInput: {
      claims: Readonly<Record<string, unknown>>;
      account: { provider: string; id: string };
      scopes?: readonly string[] | undefined;
    };
    if (parent) {
      // "MUST NOT issue a new Txn-Token when the Txn-Token being replaced has expired" (also checked on verification).
      if (parent.exp <= iat) throw authJwtError('TXN_TOKEN_EXPIRED', { metadata });
      if (parent.aud !== this.#settings.trustDomain) throw authJwtError('TXN_TOKEN_INVALID', { detail: 'aud', metadata });
      const prior = parent.rctx[REQUESTER_CHAIN_MEMBER];
      if (prior !== undefined && !(Array.isArray(prior) && prior.every((w) => typeof w === 'string')))
        throw authJwtError('TXN_TOKEN_INVALID', { detail: `rctx.${REQUESTER_CHAIN_MEMBER}`, metadata });
      chain = [...((prior as string[] | undefined) ?? []), parent.req_wl];
      // Stateless cap: the count travels signed in the token (the chain's length), no store to share.
      if (chain.length > this.#settings.maxReplacements)
        throw authJwtError('TXN_REPLACEMENTS_EXHAUSTED', { metadata: { ...metadata, limit: String(this.#settings.maxReplacements) } });
      // "MUST NOT modify txn, sub, and aud".
      sub = parent.sub;
      txn = parent.txn;
      available = parent.scope.split(' ').filter((s) => s !== '');
      tctxBase = parent.tctx;
      rctxBase = Object.assign(Object.create(null), parent.rctx);
      delete rctxBase[REQUESTER_CHAIN_MEMBER];
      policyInput = { claims: parent, account: { provider: 'txn_token', id: parent.sub }, scopes: available };
    } else {
      const s = subject!;
      // "MUST NOT issue a Txn-Token if the expiration time has passed" (of the presented token).
      if (s.expiresAt !== undefined && s.expiresAt <= now) throw authJwtError('UPSTREAM_EXPIRED', { metadata });
      sub = s.sub;
      txn = randomUUID();
      available = s.scopes;
      // "MUST reject the Txn-Token Request and MUST NOT treat an unknown scope as unconstrained".
      if (available === undefined)
        throw authJwtError('TXN_SUBJECT_SCOPE_UNKNOWN', {
          detail: `strategy ${s.strategy}`,
          metadata: { ...metadata, provider: s.provider },
        });
      policyInput = { claims: s.claims, account: { provider: s.provider, id: s.accountId ?? s.sub }, scopes: available };
      // Ordinary objects: only the TTS's own member names are set on rctxBase; tctx comes from #computeTctx.
      tctxBase = NO_MEMBERS;
      rctxBase = {};
    }

    // "MUST ensure that the requested scope of the Txn-Token is equal or less than the scope(s) associated with the original subject_token".
    // Without a `scope` parameter the scope is the held values the requester may get: within both by construction.
    const allowedScopes = requester.scopes;
    const requestedScope = input.requestedScope ?? (allowedScopes ? available.filter((v) => allowedScopes.has(v)) : available);
    if (requestedScope.length === 0) throw authJwtError('TXN_SCOPE_INVALID', { metadata });
    if (input.requestedScope !== undefined) {
      const held = new Set(available);
      for (const value of requestedScope) {
        if (!held.has(value) || (allowedScopes && !allowedScopes.has(value)))
          throw authJwtError('TXN_SCOPE_WIDENED', { detail: `scope ${value.slice(0, 128)}`, metadata });
      }
    }

    // Issuance policy of this requester (the draft's "TTS Issuance Policies").
    if (requester.allow) {
      const decision = requester.allow.evaluate({ ...policyInput, lookups: {}, caller: input.requester });
      if (!decision.allowed)
        throw authJwtError(decision.reason === 'error' ? 'POLICY_ERROR' : 'TXN_ISSUANCE_DENIED', {
          detail: `rule ${decision.rule}${decision.detail ? `: ${decision.detail}` : ''}`,
          metadata: { ...metadata, rule: decision.rule },
        });
    }
    if (!parent && this.#tctx) {
      const computed = this.#computeTctx(this.#tctx, policyInput, input.requester);
      if (!computed.allowed)
        throw authJwtError('POLICY_ERROR', {
          detail: `tctx ${computed.rule}${computed.detail ? `: ${computed.detail}` : ''}`,
          metadata: { ...metadata, rule: `tctx.${computed.rule.replace(/^claims\./, '')}` },
        });
      tctxBase = computed.claims;
    }
    // Nothing to merge (the edge, most requests): the base as it is (copied into the claims below).
    const tctx = input.requestDetails ? mergeAllowedMembers(tctxBase, input.requestDetails, requester.requestDetails, 'tctx') : tctxBase;

    if (!parent) {
      const relayed = requester.requestContext.has('req_ip') ? input.requestContext?.req_ip : undefined;
      if (relayed !== undefined && (typeof relayed !== 'string' || !/^[0-9A-Fa-f.:]{2,45}$/.test(relayed)))
        throw authJwtError('TXN_CONTEXT_MALFORMED', {
          detail: 'request_context: req_ip',
          metadata: { ...metadata, parameter: 'request_context' },
        });
      const reqIp = (relayed as string | undefined) ?? input.reqIp;
      if (reqIp !== undefined) rctxBase.req_ip = reqIp;
      if (input.authn !== undefined) rctxBase.authn = input.authn;
    }
    // rctxBase is this request's own object (new, or a copy of the parent's): no copy needed without members to merge.
    const rctx = input.requestContext
      ? mergeAllowedMembers(
          rctxBase,
          this.#withoutNewReqIp(input.requestContext, !parent && requester.requestContext.has('req_ip')),
          this.#contextAllowed.get(requester)!,
          'rctx',
        )
      : rctxBase;
    if (chain.length) rctx[REQUESTER_CHAIN_MEMBER] = chain;

    const claims: SignedTxnClaims = {
      ...(this.#settings.issuer !== undefined ? { iss: this.#settings.issuer } : {}),
      aud: this.#settings.trustDomain,
      iat,
      exp: iat + Math.floor(this.#settings.ttl / 1000),
      txn,
      sub,
      scope: joinUnique(requestedScope),
      req_wl: requesterWorkload(input.requester),
      tctx: { ...tctx },
      rctx: { ...rctx },
      jti: randomUUID(),
    } as SignedTxnClaims;
    // "the Txn-Token MUST NOT contain the access token presented to the external endpoint".
    if (input.subjectToken !== undefined && embeds(claims, input.subjectToken))
      throw authJwtError('TXN_SUBJECT_TOKEN_EMBEDDED', { metadata });
    const { token, kid } = await this.#signer.sign(claims, { typ: TXN_TOKEN_JWS_TYPE });
    return { token, txn, exp: claims.exp, kid, claims, requester: requester.client, replacements: chain.length };
  }

  #computeTctx(
    policy: AccessPolicy,
    input: { claims: Readonly<Record<string, unknown>>; account: { provider: string; id: string }; scopes?: readonly string[] | undefined },
    caller: Caller,
  ): PolicyDecision {
    let callerKey = this.#callerKeys.get(caller);
    if (callerKey === undefined) {
      callerKey = JSON.stringify(caller);
      this.#callerKeys.set(caller, callerKey);
    }
    // JSON strings side by side are unambiguous.
    const key = JSON.stringify(input.account.provider) + JSON.stringify(input.account.id) + callerKey;
    const cached = this.#tctxCache.get(input.claims)?.get(key);
    if (cached && cached.scopes === input.scopes) return cached.decision;
    const evaluated = policy.evaluate({ ...input, lookups: {}, caller });
    if (!evaluated.allowed) return evaluated;
    // An ordinary object (copied by spread: a member named `__proto__` stays a member), read-only from
    // here: each Txn-Token's `tctx` is a copy of it.
    const decision: PolicyDecision = { allowed: true, claims: Object.freeze({ ...evaluated.claims }) };
    let byCaller = this.#tctxCache.get(input.claims);
    if (!byCaller) {
      byCaller = new Map();
      this.#tctxCache.set(input.claims, byCaller);
    }
    // Bounded: a subject is asked for by a few requesters.
    if (byCaller.size >= MAX_CACHED_REQUESTERS) byCaller.clear();
    byCaller.set(key, { scopes: input.scopes, decision });
    return decision;
  }

  /** A new transaction's relayed `req_ip` was already placed; drop it from the members to merge. */
  #withoutNewReqIp(context: JsonObject | undefined, placed: boolean): JsonObject | undefined {
    if (!context || !placed || !Object.hasOwn(context, 'req_ip')) return context;
    const rest: JsonObject = Object.assign(Object.create(null), context);
    delete rest.req_ip;
    return rest;
  }
}

/** The `tctx` of a new transaction without computed members (copied into each token, never modified). */
const NO_MEMBERS: JsonObject = Object.freeze({});

/** Evaluations (account and requester) of `tctx` kept per cached subject. */
const MAX_CACHED_REQUESTERS = 16;

/** A cached `tctx` evaluation and the rest of the input it was made from. */
interface ComputedTctx {
  scopes: readonly string[] | undefined;
  decision: PolicyDecision;
}

/** `req_wl`: the authenticated requester as its credential names it (SPIFFE ID, certificate subject, assertion `sub`), else its client id. */
function requesterWorkload(caller: Caller): string {
  return caller.spiffeId || caller.subject || caller.id;
}

/** Space-separated values, each once, in their first order. */
function joinUnique(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : [...new Set(values)].join(' ');
}

/**
 * Whether the claims contain the presented token, or (for a JWS) its signature: a token that can be
 * rebuilt. Every member name and string value is searched (a walk: no JSON text built only to search it).
 */
function embeds(claims: object, token: string): boolean {
  const third = token.split('.')[2];
  const signature = third !== undefined && third.length >= 16 ? third : undefined;
  const found = (text: string) => text.includes(token) || (signature !== undefined && text.includes(signature));
  const visit = (value: unknown, depth: number): boolean => {
    if (typeof value === 'string') return found(value);
    if (typeof value !== 'object' || value === null || depth > 64) return false;
    if (Array.isArray(value)) return value.some((item) => visit(item, depth + 1));
    for (const key in value)
      if (Object.hasOwn(value, key) && (found(key) || visit((value as Record<string, unknown>)[key], depth + 1))) return true;
    return false;
  };
  return visit(claims, 0);
}
