import { randomUUID } from 'node:crypto';
import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { tracingActive } from '../telemetry/tracing-state.ts';
import type { ProviderConfig } from '../config/load.ts';
import { invalidArgument, tokenRejected } from '../errors.ts';
import type { Signer } from '../keys/jwt-signer.ts';
import { readPath } from '../providers/claims.ts';
import type { TokenVerifier, VerifiedIdentity, Strategy } from '../providers/types.ts';

/** The `Account` of a GetJWT request, as received (untrusted). */
export interface AccountInput {
  provider: string;
  type: string;
  providerAccountId: string;
  accessToken: string;
}

/** Port: finds the verifier and config of a provider id taken from the request. */
export interface ProviderLookup {
  get(id: string): { config: ProviderConfig; verifier: TokenVerifier } | undefined;
}

export interface ExchangeSettings {
  issuer: string;
  audience: readonly string[];
  /** Lifetime of minted tokens (ms). */
  tokenTtl: number;
  subjectTemplate: string;
  limits: { maxAccessTokenBytes: number; maxAccountIdBytes: number };
}

export interface ExchangeResult {
  token: string;
  provider: string;
  strategy: Strategy;
  kid: string;
  expiresAt: number;
}

export interface ExchangeOptions {
  signal?: AbortSignal | undefined;
}

const MAX_PROVIDER_ID_BYTES = 64;
// C0/C1 controls, DEL, and Unicode line/paragraph separators: never part of an account id.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// RFC 6750 b64token and the other token formats seen in practice use visible ASCII only.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * The GetJWT use case: validateRequest → selectProvider → verifyUpstream → bindAccount → mapClaims →
 * mint. Transport-free: adapters call it and map its {@link AuthJwtError}s to statuses.
 */
export class TokenExchange {
  readonly #providers: ProviderLookup;
  readonly #signer: Signer;
  readonly #settings: ExchangeSettings;
  readonly #clock: () => number;

  constructor(deps: { providers: ProviderLookup; signer: Signer; settings: ExchangeSettings; clock?: () => number }) {
    this.#providers = deps.providers;
    this.#signer = deps.signer;
    this.#settings = deps.settings;
    this.#clock = deps.clock ?? Date.now;
  }

  async getJwt(account: AccountInput | null | undefined, options: ExchangeOptions = {}): Promise<ExchangeResult> {
    const input = this.validateRequest(account);
    const provider = this.selectProvider(input);
    const identity = await this.verifyUpstream(provider.verifier, input.accessToken, options);
    this.bindAccount(identity, input);
    const claims = this.mapClaims(provider.config, identity);
    return this.mint(provider.config, identity, claims);
  }

  validateRequest(account: AccountInput | null | undefined): AccountInput {
    if (!account) throw invalidArgument('MISSING_ACCOUNT', 'account is required');
    const { provider, type, providerAccountId, accessToken } = account;
    if (typeof provider !== 'string' || provider.length === 0) throw invalidArgument('MISSING_PROVIDER', 'account.provider is required');
    if (Buffer.byteLength(provider) > MAX_PROVIDER_ID_BYTES || CONTROL_CHARS.test(provider)) throw invalidArgument('INVALID_PROVIDER', 'account.provider is malformed');
    if (typeof type !== 'string' || type.length === 0) throw invalidArgument('MISSING_TYPE', 'account.type is required');
    if (type !== 'oauth' && type !== 'oidc') throw invalidArgument('INVALID_TYPE', 'account.type must be "oauth" or "oidc"');
    if (typeof providerAccountId !== 'string' || providerAccountId.length === 0) throw invalidArgument('MISSING_ACCOUNT_ID', 'account.provider_account_id is required');
    if (Buffer.byteLength(providerAccountId) > this.#settings.limits.maxAccountIdBytes) {
      throw invalidArgument('ACCOUNT_ID_TOO_LONG', `account.provider_account_id is longer than ${this.#settings.limits.maxAccountIdBytes} bytes`);
    }
    if (CONTROL_CHARS.test(providerAccountId)) throw invalidArgument('INVALID_ACCOUNT_ID', 'account.provider_account_id contains control characters');
    if (typeof accessToken !== 'string' || accessToken.length === 0) throw invalidArgument('MISSING_ACCESS_TOKEN', 'account.access_token is required');
    if (accessToken.length > this.#settings.limits.maxAccessTokenBytes) {
      throw invalidArgument('ACCESS_TOKEN_TOO_LONG', `account.access_token is longer than ${this.#settings.limits.maxAccessTokenBytes} bytes`);
    }
    if (!TOKEN_CHARS.test(accessToken)) throw invalidArgument('INVALID_ACCESS_TOKEN', 'account.access_token contains characters that no access token has');
    return { provider, type, providerAccountId, accessToken };
  }

  selectProvider(input: AccountInput): { config: ProviderConfig; verifier: TokenVerifier } {
    const provider = this.#providers.get(input.provider);
    if (!provider) throw invalidArgument('UNKNOWN_PROVIDER', 'account.provider is not a configured provider');
    if (provider.config.type !== input.type) {
      throw invalidArgument('TYPE_MISMATCH', `account.type "${input.type}" does not match provider "${provider.config.id}" (type ${provider.config.type})`);
    }
    return provider;
  }

  async verifyUpstream(verifier: TokenVerifier, accessToken: string, options: ExchangeOptions): Promise<VerifiedIdentity> {
    options.signal?.throwIfAborted();
    return inSpan('authjwt.verify', { 'authjwt.provider': verifier.providerId }, async (span) => {
      const identity = await verifier.verify(accessToken, { signal: options.signal });
      span.setAttribute('authjwt.strategy', identity.strategy);
      return identity;
    });
  }

  /** The provider's account id must equal provider_account_id exactly (no case or Unicode folding). */
  bindAccount(identity: VerifiedIdentity, input: AccountInput): void {
    if (identity.accountId !== input.providerAccountId) {
      throw tokenRejected('ACCOUNT_MISMATCH', 'access token belongs to another account than provider_account_id');
    }
  }

  mapClaims(provider: ProviderConfig, identity: VerifiedIdentity): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null);
    for (const [claim, path] of Object.entries(provider.claims)) {
      const value = sanitizeClaimValue(readPath(identity.profile, path));
      if (value !== undefined) out[claim] = value;
    }
    return out;
  }

  async mint(provider: ProviderConfig, identity: VerifiedIdentity, profileClaims: Record<string, unknown>): Promise<ExchangeResult> {
    const now = Math.floor(this.#clock() / 1000);
    const exp = now + Math.floor(this.#settings.tokenTtl / 1000);
    const { audience } = this.#settings;
    const claims = {
      ...profileClaims,
      iss: this.#settings.issuer,
      aud: audience.length === 1 ? audience[0]! : [...audience],
      // Replacement functions, not strings: "$&", "$$"… in an account id must be copied verbatim.
      sub: this.#settings.subjectTemplate.replaceAll('{provider}', () => provider.id).replaceAll('{accountId}', () => identity.accountId),
      iat: now,
      nbf: now,
      exp,
      jti: randomUUID(),
      provider: provider.id,
      ...(identity.clientId !== undefined ? { client_id: identity.clientId } : {}),
    };
    const { token, kid } = await inSpan('authjwt.sign', { 'authjwt.provider': provider.id }, async (span) => {
      const signed = await this.#signer.sign(claims);
      span.setAttributes({ 'authjwt.kid': signed.kid, 'authjwt.alg': signed.alg });
      return signed;
    });
    return { token, provider: provider.id, strategy: identity.strategy, kid, expiresAt: exp * 1000 };
  }
}

const tracer = trace.getTracer('authjwt');
const NO_SPAN = trace.wrapSpanContext({ traceId: '', spanId: '', traceFlags: 0 });

/** Runs `fn` in a child span (when tracing is on); records the error code (never a token) on failure. */
function inSpan<T>(name: string, attributes: Record<string, string>, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!tracingActive()) return fn(NO_SPAN);
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'error' });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Only plain strings, booleans, finite numbers and short string arrays are copied into our tokens. */
function sanitizeClaimValue(value: unknown): unknown {
  if (typeof value === 'string') return value.length <= 1024 ? value : undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (Array.isArray(value)) {
    const strings = value.filter((v): v is string => typeof v === 'string' && v.length <= 256).slice(0, 100);
    return strings.length === value.length ? strings : undefined;
  }
  return undefined;
}

