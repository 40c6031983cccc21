import { authJwtError } from '../../errors.ts';

/** 2xx passes; 401/4xx: the token is refused; 429 or GitHub's exhausted-quota 403: rate limited; else a provider fault. */
export async function checkStatus(response: Response, what: string): Promise<void> {
  const s = response.status;
  if (s >= 200 && s < 300) return;
  const body = await response.text().catch(() => '');
  const providerMessage = body.slice(0, 200).replace(/[^\x20-\x7e]/g, '?');
  const rateLimited = s === 429 || (s === 403 && response.headers.get('x-ratelimit-remaining') === '0');
  if (rateLimited) throw authJwtError('PROVIDER_RATE_LIMITED', { detail: `${what} status ${s}` });
  if (s >= 400 && s < 500) throw authJwtError('UPSTREAM_REJECTED_BY_PROVIDER', { detail: `${what} status ${s}: ${providerMessage}` });
  throw authJwtError('PROVIDER_BAD_STATUS', { detail: `${what} status ${s}` });
}
