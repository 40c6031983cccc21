import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { authJwtError } from '../../errors.ts';
import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import { checkAccessClaims, checkHeaderType, checkIssuer, identityFrom } from '../token-rules.ts';
import type { DiscoveredProvider, OidcDiscovery } from './discovery.ts';

export interface OidcTokenSettings {
  issuer: string;
  audiences: readonly string[] | undefined;
  accountIdClaim: string;
  /** ms tolerated on exp/nbf/iat. */
  clockTolerance: number;
  clock?: () => number;
}

/**
 * Strategy `jwt`: verifies a JWT access token locally against the provider's JWKS — signature with
 * an asymmetric algorithm the provider uses, exact `iss`, `exp`/`nbf`/`iat`, access-token type and
 * client binding. No provider call per token; revocation is not seen before expiry.
 */
export class OidcJwtVerifier implements TokenVerifier {
  readonly #discovery: OidcDiscovery;
  readonly #settings: OidcTokenSettings;
  readonly #clock: () => number;

  constructor(discovery: OidcDiscovery, settings: OidcTokenSettings) {
    this.#discovery = discovery;
    this.#settings = settings;
    this.#clock = settings.clock ?? Date.now;
  }

  async verify(token: string, _options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      const provider = await this.#discovery.current();
      if (!isJwtShaped(token)) throw authJwtError('UPSTREAM_MALFORMED');
      const header = decodeProtectedHeader(token);
      checkHeaderType(header);
      // Before the signature, for a useful log when the IdP is reached under another URL (in-cluster
      // vs public hostname): the expected and the presented issuer are not secrets.
      checkIssuer(decodeJwt(token), this.#settings.issuer);
      let payload: JWTPayload;
      try {
        payload = await this.#verify(token, provider);
      } catch (error) {
        // The provider may have started signing with an algorithm it did not advertise when we
        // discovered it (rotation to another key type): rediscover once, rate-limited.
        const refreshed = error instanceof joseErrors.JOSEAlgNotAllowed ? await this.#discovery.rediscoverFor(header.alg) : undefined;
        if (!refreshed) throw error;
        payload = await this.#verify(token, refreshed);
      }
      checkAccessClaims(payload, this.#settings, this.#clock());
      return identityFrom(payload, this.#settings.accountIdClaim, 'jwt');
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'jwt', jwksUnusable: () => this.#discovery.jwksUnusable() });
    }
  }

  async #verify(token: string, provider: DiscoveredProvider): Promise<JWTPayload> {
    if (!provider.keys) throw authJwtError('PROVIDER_NO_JWKS');
    const { payload } = await jwtVerify(token, provider.keys, {
      issuer: this.#settings.issuer,
      algorithms: [...provider.algorithms],
      clockTolerance: Math.round(this.#settings.clockTolerance / 1000),
      requiredClaims: ['exp'],
      currentDate: new Date(this.#clock()),
    });
    return payload;
  }
}

/** Three base64url segments whose header decodes: worth verifying as a JWT. */
export function isJwtShaped(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p)) || !parts[0]) return false;
  try {
    decodeProtectedHeader(token);
    return true;
  } catch {
    return false;
  }
}
