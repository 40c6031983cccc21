import { authJwtError } from '../../errors.ts';
import type { FetchFn } from '../http/provider-fetch.ts';
import { readJsonBody } from '../http/response-body.ts';

/** The API path of TokenReview (authentication.k8s.io/v1). */
export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

export interface TokenReviewResult {
  /** `status.user.username`, e.g. `system:serviceaccount:<namespace>:<name>`. */
  username: string;
  /** `status.audiences`: the requested audiences the token is valid for. */
  audiences: readonly string[];
}

/**
 * Asks the API server whether a token is still valid (POST TokenReview, authentication.k8s.io/v1),
 * with the audiences authjwt accepts: the API server checks the signature, expiry, audience, and that
 * the service account and the pod, secret or node the token is bound to still exist (their UIDs too).
 * `authenticated: false` is `UPSTREAM_TOKEN_REVIEW_REJECTED` (UNAUTHENTICATED), with the API server's
 * reason in the detail (logs only); any failure to get an answer is UNAVAILABLE (401/403 of the API
 * server come as `PROVIDER_KUBERNETES_FORBIDDEN` from the API-server fetch).
 */
export async function reviewToken(
  fetch: FetchFn,
  apiServer: string,
  token: string,
  audiences: readonly string[],
  signal: AbortSignal | undefined,
): Promise<TokenReviewResult> {
  const response = await fetch(new URL(TOKEN_REVIEW_PATH, apiServer), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } }),
    signal,
  });
  if (response.status >= 500) {
    void response.body?.cancel().catch(() => undefined);
    throw authJwtError('PROVIDER_BAD_STATUS', { detail: `TokenReview answered ${response.status}` });
  }
  if (response.status !== 200 && response.status !== 201) {
    void response.body?.cancel().catch(() => undefined);
    throw authJwtError('PROVIDER_BAD_RESPONSE', { detail: `TokenReview answered ${response.status}` });
  }
  const body = (await readJsonBody(response)) as { status?: unknown } | null;
  const status = body?.status as
    | { authenticated?: unknown; user?: { username?: unknown }; audiences?: unknown; error?: unknown }
    | undefined;
  if (typeof status !== 'object' || status === null) throw authJwtError('PROVIDER_BAD_RESPONSE', { detail: 'TokenReview without status' });
  if (status.authenticated !== true) {
    const reason = typeof status.error === 'string' ? status.error.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) : 'not authenticated';
    throw authJwtError('UPSTREAM_TOKEN_REVIEW_REJECTED', { detail: `TokenReview: ${reason}` });
  }
  const username = status.user?.username;
  if (typeof username !== 'string') throw authJwtError('PROVIDER_BAD_RESPONSE', { detail: 'TokenReview without status.user.username' });
  const granted = Array.isArray(status.audiences) ? status.audiences.filter((a): a is string => typeof a === 'string') : [];
  return { username, audiences: granted };
}
