import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { authJwtError } from '../../errors.ts';
import type { CallOptions, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import { withCallSignal } from '../http/provider-fetch.ts';
import { accountIdOf, checkAccessClaims, checkHeaderType, checkIssuer, issuedToClient, scopesOfClaims } from '../token-rules.ts';
import type { OidcDiscovery } from './discovery.ts';
import { isJwtShaped, type OidcTokenSettings } from './jwt-verifier.ts';

/**
 * Strategy `userinfo`: the provider's userinfo endpoint accepts the token and names the account.
 * Userinfo says nothing about the client a token was issued to: for a JWT-shaped token the provider's
 * acceptance vouches for its payload, so type, issuer, times and client binding are read from it; an
 * opaque token cannot be bound to our audiences and is refused when audiences are configured.
 */
export class UserinfoVerifier implements TokenVerifier {
  readonly #discovery: OidcDiscovery;
  readonly #settings: OidcTokenSettings;
  readonly #clock: () => number;

  constructor(discovery: OidcDiscovery, settings: OidcTokenSettings) {
    this.#discovery = discovery;
    this.#settings = settings;
    this.#clock = settings.clock ?? Date.now;
  }

  async verify(token: string, options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      const provider = await this.#discovery.current();
      if (!provider.metadata.userinfo_endpoint) throw authJwtError('PROVIDER_NO_USERINFO');
      let tokenClaims: JWTPayload | undefined;
      if (isJwtShaped(token)) {
        try {
          tokenClaims = decodeJwt(token);
        } catch {
          tokenClaims = undefined;
        }
      }
      if (this.#settings.audiences?.length && !tokenClaims) throw authJwtError('UPSTREAM_AUDIENCE_UNVERIFIABLE');
      if (tokenClaims) {
        checkHeaderType(decodeProtectedHeader(token));
        checkIssuer(tokenClaims, this.#settings.issuer);
        checkAccessClaims(tokenClaims, this.#settings, this.#clock());
      }
      options.signal?.throwIfAborted();
      const info = (await withCallSignal(options.signal, () =>
        oidc.fetchUserInfo(provider.configuration, token, oidc.skipSubjectCheck),
      )) as Record<string, unknown>;
      if (tokenClaims?.sub !== undefined && info.sub !== tokenClaims.sub) throw authJwtError('UPSTREAM_SUBJECT_MISMATCH');
      return {
        accountId: accountIdOf(info, this.#settings.accountIdClaim),
        claims: info,
        expiresAt: typeof tokenClaims?.exp === 'number' ? tokenClaims.exp * 1000 : undefined,
        clientId: tokenClaims ? issuedToClient(tokenClaims) : undefined,
        strategy: 'userinfo',
        // RFC 8693 act / may_act are the token's claims, not userinfo's (an opaque token: the answer's, if any).
        delegation: tokenClaims ? { act: tokenClaims.act, mayAct: tokenClaims.may_act } : undefined,
        // A userinfo answer names no scope (OIDC Core §5.3.2): a JWT-shaped token's own `scope`/`scp`, which
        // the provider vouched for by accepting the token; an opaque token's scopes cannot be determined.
        scopes: tokenClaims ? scopesOfClaims(tokenClaims) : undefined,
      };
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'userinfo' });
    }
  }
}
