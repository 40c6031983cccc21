import { authJwtError } from '../../errors.ts';

/** 429, or GitHub's 403 with an exhausted quota. */
export function isRateLimited(response: Response): boolean {
  return response.status === 429 || (response.status === 403 && response.headers.get('x-ratelimit-remaining') === '0');
}

/**
 * 2xx passes; 401/4xx: the token is refused; rate limited (see {@link isRateLimited}); else a provider fault.
 * A refusal's log detail quotes the provider's answer, with the token cut out first: an API that echoes
 * the request must not carry the caller's token into our logs.
 */
export async function checkStatus(response: Response, what: string, token: string): Promise<void> {
  const s = response.status;
  if (s >= 200 && s < 300) return;
  const body = await response.text().catch(() => '');
  const providerMessage = body
    .replaceAll(token, '[token]')
    .slice(0, 200)
    .replace(/[^\x20-\x7e]/g, '?');
  if (isRateLimited(response)) throw authJwtError('PROVIDER_RATE_LIMITED', { detail: `${what} status ${s}` });
  if (s >= 400 && s < 500) throw authJwtError('UPSTREAM_REJECTED_BY_PROVIDER', { detail: `${what} status ${s}: ${providerMessage}` });
  throw authJwtError('PROVIDER_BAD_STATUS', { detail: `${what} status ${s}` });
}
