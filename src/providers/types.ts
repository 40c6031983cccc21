/** How a token was proven. */
export type Strategy = 'jwt' | 'introspection' | 'userinfo' | 'user-api';

/** The account a provider vouched for. */
export interface VerifiedIdentity {
  /** The provider's account id (OIDC `sub` or the user API's id field), as a string. */
  accountId: string;
  /** Source data for profile-claim mapping (token claims, introspection or user API answer). */
  profile: Readonly<Record<string, unknown>>;
  /** Upstream token expiry (ms since epoch) when known: bounds caching. */
  expiresAt: number | undefined;
  /** The client the upstream token was issued to, when known (azp / client_id / app). */
  clientId: string | undefined;
  strategy: Strategy;
}

export interface VerifyOptions {
  /** Aborts provider calls (caller deadline, shutdown). */
  signal?: AbortSignal | undefined;
}

/**
 * Port: proves an access token with one provider. Implementations throw AuthJwtError:
 * `unauthenticated` when the token does not prove an account, `unavailable` when the provider
 * cannot be asked.
 */
export interface TokenVerifier {
  readonly providerId: string;
  verify(token: string, options?: VerifyOptions): Promise<VerifiedIdentity>;
}

/** Outbound HTTP call observer (metrics, later tracing). */
export interface ProviderCallObserver {
  onProviderCall?(event: { provider: string; endpoint: string; result: string; durationSeconds: number }): void;
}
