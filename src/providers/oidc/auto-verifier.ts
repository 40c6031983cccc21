import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import type { DiscoveredProvider, OidcDiscovery } from './discovery.ts';
import { isJwtShaped } from './jwt-verifier.ts';

/**
 * Strategy `auto`, per token: `jwt` when the token is JWT-shaped and the provider publishes a JWKS;
 * else `introspection` when client credentials are configured and the provider has the endpoint;
 * else `userinfo`.
 */
export class AutoVerifier implements TokenVerifier {
  readonly #discovery: OidcDiscovery;
  readonly #jwt: TokenVerifier;
  readonly #introspection: TokenVerifier | undefined;
  readonly #userinfo: TokenVerifier;

  constructor(
    discovery: OidcDiscovery,
    strategies: { jwt: TokenVerifier; introspection: TokenVerifier | undefined; userinfo: TokenVerifier },
  ) {
    this.#discovery = discovery;
    this.#jwt = strategies.jwt;
    this.#introspection = strategies.introspection;
    this.#userinfo = strategies.userinfo;
  }

  async verify(token: string, options: CallOptions = {}): Promise<VerifiedIdentity> {
    let provider: DiscoveredProvider;
    try {
      provider = await this.#discovery.current();
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'discovery' });
    }
    if (isJwtShaped(token) && provider.keys) return this.#jwt.verify(token, options);
    if (this.#introspection && provider.metadata.introspection_endpoint) return this.#introspection.verify(token, options);
    return this.#userinfo.verify(token, options);
  }
}
