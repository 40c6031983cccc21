import { errors as joseErrors } from 'jose';
import * as oidc from 'openid-client';
import { authJwtError, isAuthJwtError, type AuthJwtError } from '../errors.ts';
import { isTransportError } from './http/provider-fetch.ts';
import { findResponseTooLarge } from './http/response-body.ts';

/** Which call failed: decides what a 4xx means (our credentials at introspection, the token elsewhere). */
type ProviderEndpoint = 'jwt' | 'introspection' | 'userinfo' | 'user-api' | 'discovery';

export interface ClassifyContext {
  endpoint: ProviderEndpoint;
  /** jwt: true when the provider's JWKS holds no usable signing key (a provider fault, not the token's). */
  jwksUnusable?: () => boolean;
}

/**
 * The one map from library and transport errors to the catalogue, for every strategy: jose (JWT and
 * JWKS), openid-client (discovery, introspection, userinfo), fetch and the body cap.
 */
export function classifyProviderError(error: unknown, context: ClassifyContext): AuthJwtError {
  if (isAuthJwtError(error)) return error;
  const tooLarge = findResponseTooLarge(error);
  if (tooLarge) return tooLarge as AuthJwtError;
  const detail = error instanceof Error ? error.message.slice(0, 300) : String(error);

  if (error instanceof joseErrors.JWTExpired) return authJwtError('UPSTREAM_EXPIRED', { cause: error, detail });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const byClaim = {
      iss: 'UPSTREAM_WRONG_ISSUER',
      nbf: 'UPSTREAM_NOT_YET_VALID',
      iat: 'UPSTREAM_ISSUED_IN_FUTURE',
      aud: 'UPSTREAM_WRONG_AUDIENCE',
    } as const;
    return authJwtError(byClaim[error.claim as keyof typeof byClaim] ?? 'UPSTREAM_INVALID_TOKEN', {
      cause: error,
      detail: `${error.claim}: ${detail}`,
    });
  }
  if (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JOSENotSupported ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys
  ) {
    return authJwtError('UPSTREAM_INVALID_TOKEN', { cause: error, detail: `${(error as joseErrors.JOSEError).code}: ${detail}` });
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    return context.jwksUnusable?.()
      ? authJwtError('PROVIDER_JWKS_UNUSABLE', { cause: error })
      : authJwtError('UPSTREAM_UNKNOWN_KEY', { cause: error });
  }
  if (error instanceof joseErrors.JWKSTimeout) return authJwtError('PROVIDER_UNREACHABLE', { cause: error, detail });

  const answer = providerAnswerOf(error);
  if (answer) {
    const { status, providerError } = answer;
    const said = `status ${status}; ${detail}${providerError ? ` (provider error: ${providerError})` : ''}`;
    if (status === 429) return authJwtError('PROVIDER_RATE_LIMITED', { cause: error, detail: said });
    if (status >= 500) return authJwtError('PROVIDER_BAD_STATUS', { cause: error, detail: said });
    const clientRefused =
      status === 401 || status === 403 || providerError?.startsWith('invalid_client') || providerError?.startsWith('unauthorized_client');
    if (context.endpoint === 'introspection' && clientRefused) {
      // Introspection says a token is bad with `active: false`; a 401/403 or invalid_client means
      // *our* credentials were refused — a configuration problem, not the caller's.
      return authJwtError('PROVIDER_CLIENT_AUTH_FAILED', {
        cause: error,
        detail: `${said}; the provider refused our client credentials: check clientId and the client secret of this provider (and that the client may introspect)`,
      });
    }
    return authJwtError('UPSTREAM_REJECTED_BY_PROVIDER', { cause: error, detail: said });
  }
  if (isTransportError(error)) return authJwtError('PROVIDER_UNREACHABLE', { cause: error, detail });
  return authJwtError('PROVIDER_BAD_RESPONSE', { cause: error, detail });
}

/**
 * The provider's error answer: status and OAuth `error` (with a bounded, printable description) from a
 * body or a WWW-Authenticate challenge, or — an unexpected status without an OAuth error body — the
 * status of the Response openid-client keeps as the cause.
 */
function providerAnswerOf(error: unknown): { status: number; providerError: string | undefined } | undefined {
  let code: unknown;
  let description: unknown;
  if (error instanceof oidc.ResponseBodyError) {
    code = error.error;
    description = error.error_description;
  } else if (error instanceof oidc.WWWAuthenticateChallengeError) {
    const params = error.cause.find((c) => c.parameters.error)?.parameters;
    code = params?.error;
    description = params?.error_description;
  } else {
    const response = (error as { cause?: unknown } | undefined)?.cause;
    return response instanceof Response && response.status >= 400 ? { status: response.status, providerError: undefined } : undefined;
  }
  const safe = (s: string, n: number) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, n);
  const providerError =
    typeof code !== 'string' || !code
      ? undefined
      : typeof description === 'string' && description
        ? `${safe(code, 64)}: ${safe(description, 160)}`
        : safe(code, 64);
  return { status: error.status, providerError };
}
