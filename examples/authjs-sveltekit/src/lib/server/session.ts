/**
 * What the Auth.js `jwt` callback does with the provider account. The Auth.js JWT is an encrypted
 * cookie (JWE, key derived from AUTH_SECRET): only this server can read what is stored here. The
 * `session` callback is left at its default, so `/auth/session` and `locals.auth()` never return
 * these tokens.
 *
 * - At sign-in (`account` present): call GetJWT with the account, store the minted token.
 * - Later requests: when the provider access token is about to expire, refresh it at the provider's
 *   token endpoint (Auth.js's refresh-token-rotation pattern) and call GetJWT again with the new
 *   token; when only the minted token is about to expire, call GetJWT again with the current one.
 */
import type { Account as AuthJsAccount } from '@auth/core/types';
import type { JWT } from '@auth/core/jwt';
import type { ExampleConfig } from './config';
import { decodeClaims, getJwt, toUpstreamAccount, type UpstreamAccount } from './authjwt';

export interface MintedState {
  /** The authjwt token (a JWS), present after a successful GetJWT. */
  token?: string;
  /** Its `exp` (seconds). */
  exp?: number;
  /** gRPC status name and message of the last failed GetJWT. */
  error?: string;
  retryable?: boolean;
}

export interface UpstreamState {
  account: UpstreamAccount;
  refreshToken?: string;
  /** Expiry of account.accessToken (seconds), from Auth.js's `expires_at` / the refresh response. */
  expiresAt?: number;
}

declare module '@auth/core/jwt' {
  interface JWT {
    upstream?: UpstreamState;
    minted?: MintedState;
    /** How often the provider token was refreshed in this session. */
    refreshes?: number;
    /** Set when the provider refused the refresh token: the user must sign in again. */
    error?: 'RefreshTokenError';
  }
}

/** Server-only view of the session for loads and endpoints (event.locals.exchange). */
export interface ExchangeView {
  upstream?: UpstreamState;
  minted?: MintedState & { claims?: Record<string, unknown> };
  refreshes: number;
  error?: 'RefreshTokenError';
}

const RETRYABLE = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED']);
const now = () => Math.floor(Date.now() / 1000);

async function mint(config: ExampleConfig, account: UpstreamAccount): Promise<MintedState> {
  const result = await getJwt(config.authjwt, account);
  if (!result.ok) {
    console.warn(`GetJWT failed for provider ${account.provider}: ${result.code} ${result.details}`);
    return { error: `${result.code}: ${result.details}`, retryable: RETRYABLE.has(result.code) };
  }
  const { exp } = decodeClaims(result.token);
  return { token: result.token, exp: typeof exp === 'number' ? exp : undefined };
}

/** `jwt` callback at sign-in. */
export async function startSession(config: ExampleConfig, token: JWT, account: AuthJsAccount): Promise<JWT> {
  const upstream: UpstreamState = {
    account: toUpstreamAccount(account),
    refreshToken: account.refresh_token,
    expiresAt: account.expires_at,
  };
  return { ...token, upstream, minted: await mint(config, upstream.account), refreshes: 0, error: undefined };
}

interface TokenEndpointResponse {
  access_token: string;
  expires_in?: number;
  refresh_token?: string;
}

interface ProviderMetadata {
  token_endpoint: string;
  revocation_endpoint?: string;
}

let discovered: { issuer: string; metadata: Promise<ProviderMetadata> } | undefined;

/** The provider's endpoints from its discovery document (fetched once per issuer). */
function discover(issuer: string): Promise<ProviderMetadata> {
  if (discovered?.issuer !== issuer) {
    const metadata = (async () => {
      const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
      if (!res.ok) throw new Error(`discovery of ${issuer} failed: HTTP ${res.status}`);
      const doc = (await res.json()) as Partial<ProviderMetadata>;
      if (!doc.token_endpoint) throw new Error(`discovery of ${issuer} has no token_endpoint`);
      return { token_endpoint: doc.token_endpoint, revocation_endpoint: doc.revocation_endpoint };
    })();
    metadata.catch(() => (discovered = undefined));
    discovered = { issuer, metadata };
  }
  return discovered.metadata;
}

class RefreshRefusedError extends Error {}

async function refreshUpstream(config: ExampleConfig, upstream: UpstreamState): Promise<UpstreamState> {
  if (!upstream.refreshToken) throw new Error('no refresh_token (did the provider issue one?)');
  const res = await fetch((await discover(config.keycloak.issuer)).token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: upstream.refreshToken,
      client_id: config.keycloak.clientId,
      client_secret: config.keycloak.clientSecret,
    }),
  });
  if (!res.ok) {
    const { error } = (await res.json().catch(() => ({}))) as { error?: string };
    const message = `refresh failed: HTTP ${res.status} ${error ?? ''}`.trim();
    // 400/401 (invalid_grant, ...): the provider session is over. 5xx: try again on a later request.
    throw res.status === 400 || res.status === 401 ? new RefreshRefusedError(message) : new Error(message);
  }
  const tokens = (await res.json()) as TokenEndpointResponse;
  return {
    account: { ...upstream.account, accessToken: tokens.access_token },
    // Keycloak rotates refresh tokens; providers that do not return one keep the old one valid.
    refreshToken: tokens.refresh_token ?? upstream.refreshToken,
    expiresAt: tokens.expires_in === undefined ? undefined : now() + tokens.expires_in,
  };
}

/** `jwt` callback on every later session read. `force` refreshes regardless of expiry (dev route). */
export async function keepFresh(config: ExampleConfig, token: JWT, options: { force?: boolean } = {}): Promise<JWT> {
  const { upstream } = token;
  if (!upstream || token.error) return token;
  const margin = config.refreshMarginSeconds;
  if (options.force || (upstream.expiresAt !== undefined && upstream.expiresAt - margin <= now())) {
    let next: UpstreamState;
    try {
      next = await refreshUpstream(config, upstream);
    } catch (error) {
      console.warn(`provider token refresh failed: ${(error as Error).message}`);
      // The provider session is gone (expired, logged out, revoked): drop both tokens, sign in again.
      if (error instanceof RefreshRefusedError) return { ...token, upstream: undefined, minted: undefined, error: 'RefreshTokenError' };
      return token; // provider unreachable: keep the session, try again on the next request
    }
    return { ...token, upstream: next, minted: await mint(config, next.account), refreshes: (token.refreshes ?? 0) + 1 };
  }
  const { minted } = token;
  const mintedDue = minted?.token ? minted.exp !== undefined && minted.exp - margin <= now() : minted?.retryable === true;
  if (mintedDue) return { ...token, minted: await mint(config, upstream.account) };
  return token;
}

export function exchangeView(token: JWT): ExchangeView {
  const minted = token.minted && { ...token.minted, claims: token.minted.token ? decodeClaims(token.minted.token) : undefined };
  return { upstream: token.upstream, minted, refreshes: token.refreshes ?? 0, error: token.error };
}

/**
 * At sign-out: revoke the refresh token at the provider (RFC 7009). Keycloak then ends this client's
 * session: the refresh token stops working and introspection/userinfo refuse its access tokens at once
 * (local JWT verification still accepts them until they expire; minted tokens live until their exp).
 */
export async function revokeUpstream(config: ExampleConfig, upstream: UpstreamState | undefined): Promise<void> {
  if (!upstream?.refreshToken) return;
  const { revocation_endpoint } = await discover(config.keycloak.issuer);
  if (!revocation_endpoint) return;
  const res = await fetch(revocation_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      token: upstream.refreshToken,
      token_type_hint: 'refresh_token',
      client_id: config.keycloak.clientId,
      client_secret: config.keycloak.clientSecret,
    }),
  });
  if (!res.ok) throw new Error(`revocation refused: HTTP ${res.status}`);
}
