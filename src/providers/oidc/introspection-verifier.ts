import * as oidc from 'openid-client';
import { authJwtError } from '../../errors.ts';
import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import { withCallSignal } from '../http/provider-fetch.ts';
import { checkAccessClaims, checkIssuer, identityFrom } from '../token-rules.ts';
import type { OidcDiscovery } from './discovery.ts';
import type { OidcTokenSettings } from './jwt-verifier.ts';

/**
 * Strategy `introspection`: RFC 7662 with our client credentials. Sees revocation at once. The answer
 * gets the same rules as a verified JWT: `active`, exact `iss`, times, access-token type (Keycloak
 * `typ`, `token_use`, `token_type`) and client binding.
 */
export class IntrospectionVerifier implements TokenVerifier {
  readonly #discovery: OidcDiscovery;
  readonly #settings: OidcTokenSettings & { hasClientCredentials: boolean };
  readonly #clock: () => number;

  constructor(discovery: OidcDiscovery, settings: OidcTokenSettings & { hasClientCredentials: boolean }) {
    this.#discovery = discovery;
    this.#settings = settings;
    this.#clock = settings.clock ?? Date.now;
  }

  async verify(token: string, options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      const provider = await this.#discovery.current();
      if (!provider.metadata.introspection_endpoint) throw authJwtError('PROVIDER_NO_INTROSPECTION');
      if (!this.#settings.hasClientCredentials) throw authJwtError('PROVIDER_NO_CLIENT_CREDENTIALS');
      options.signal?.throwIfAborted();
      // openid-client takes no per-call signal: the caller's deadline reaches our fetch through withCallSignal.
      const answer = (await withCallSignal(options.signal, () =>
        oidc.tokenIntrospection(provider.configuration, token, { token_type_hint: 'access_token' }),
      )) as Record<string, unknown>;
      if (answer.active !== true) {
        throw authJwtError('UPSTREAM_INACTIVE', {
          detail:
            'introspection answered active=false: revoked or expired — or, with Keycloak, the introspecting client is not in the token audience (add an audience mapper, docs/strategies.md)',
        });
      }
      checkIssuer(answer, this.#settings.issuer);
      checkAccessClaims(answer, this.#settings, this.#clock());
      return identityFrom(answer, this.#settings.accountIdClaim, 'introspection');
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'introspection' });
    }
  }
}
