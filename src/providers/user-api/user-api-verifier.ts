import { authJwtError } from '../../errors.ts';
import { readPath } from '../../exchange/claims.ts';
import type { CallOptions, LookupName, LookupResult, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import type { FetchFn } from '../http/provider-fetch.ts';
import { readJsonBody } from '../http/response-body.ts';
import { accountIdOf } from '../token-rules.ts';
import { fetchLookup } from './lookups.ts';
import { checkStatus } from './status.ts';

export interface UserApiSettings {
  /** The user API (GitHub `GET /user`), called with the token as a Bearer credential. */
  url: string;
  headers: Readonly<Record<string, string>>;
  accountIdClaim: string;
  /** GitHub: bind tokens to our OAuth app with `POST {apiBaseUrl}/applications/{clientId}/token`. */
  githubApp: { apiBaseUrl: string; clientId: string; clientSecret: string } | undefined;
  /** Lookups to fetch with every verification (the access policy needs them), and where. */
  lookups: readonly { name: LookupName; url: string }[];
  fetch: FetchFn;
}

/**
 * Strategy `user-api` (GitHub, GitLab, …, providers without introspection): the token is proven by
 * calling the provider's user API with it; the answer names the account. For GitHub with our OAuth
 * app's credentials, the token is first checked with `POST /applications/{client_id}/token`, which only
 * succeeds for tokens issued to *our* app, and the user is taken from that answer. Lookups the
 * policy needs (orgs, teams, groups) are fetched with the same token and cached with the result.
 */
export class UserApiVerifier implements TokenVerifier {
  readonly #settings: UserApiSettings;

  constructor(settings: UserApiSettings) {
    this.#settings = settings;
  }

  async verify(token: string, options: CallOptions = {}): Promise<VerifiedIdentity> {
    try {
      const identity = this.#settings.githubApp
        ? await this.#verifyWithGitHubApp(token, this.#settings.githubApp, options)
        : await this.#verifyWithUserApi(token, options);
      if (this.#settings.lookups.length === 0) return identity;
      const results = await Promise.all(
        this.#settings.lookups.map(
          async (l) => [l.name, await fetchLookup(this.#settings.fetch, l, token, this.#settings.headers, options)] as const,
        ),
      );
      return { ...identity, lookups: Object.fromEntries(results) as Partial<Record<LookupName, LookupResult>> };
    } catch (error) {
      throw classifyProviderError(error, { endpoint: 'user-api' });
    }
  }

  async #verifyWithUserApi(token: string, options: CallOptions): Promise<VerifiedIdentity> {
    const response = await this.#settings.fetch(this.#settings.url, {
      method: 'GET',
      headers: { accept: 'application/json', ...this.#settings.headers, authorization: `Bearer ${token}` },
      signal: options.signal,
    });
    await checkStatus(response, 'user API', token);
    return this.#identity(await readJsonBody(response), undefined, undefined);
  }

  async #verifyWithGitHubApp(
    token: string,
    app: NonNullable<UserApiSettings['githubApp']>,
    options: CallOptions,
  ): Promise<VerifiedIdentity> {
    const basic = Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64');
    const url = new URL(`applications/${encodeURIComponent(app.clientId)}/token`, withSlash(app.apiBaseUrl));
    const response = await this.#settings.fetch(url, {
      method: 'POST',
      headers: { ...this.#settings.headers, 'content-type': 'application/json', authorization: `Basic ${basic}` },
      body: JSON.stringify({ access_token: token }),
      signal: options.signal,
    });
    if (response.status === 404 || response.status === 422) {
      await response.body?.cancel();
      throw authJwtError('UPSTREAM_NOT_ISSUED_TO_CLIENT');
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      // Our app credentials were refused: a configuration problem, not the caller's.
      throw authJwtError('PROVIDER_CLIENT_AUTH_FAILED', {
        detail: `token check status ${response.status}: the provider refused our OAuth app credentials: check clientId and the client secret`,
      });
    }
    await checkStatus(response, 'token check', token);
    const body = await readJsonBody(response);
    const appClientId = readPath(body, 'app.client_id');
    if (appClientId !== undefined && appClientId !== app.clientId) throw authJwtError('UPSTREAM_NOT_ISSUED_TO_CLIENT');
    const expires = readPath(body, 'expires_at');
    const expiresAt = typeof expires === 'string' ? Date.parse(expires) : Number.NaN;
    return this.#identity(readPath(body, 'user'), app.clientId, Number.isFinite(expiresAt) ? expiresAt : undefined);
  }

  #identity(user: unknown, clientId: string | undefined, expiresAt: number | undefined): VerifiedIdentity {
    if (user === null || typeof user !== 'object' || Array.isArray(user))
      throw authJwtError('PROVIDER_BAD_RESPONSE', { detail: 'user API answer is not an object' });
    return {
      accountId: accountIdOf(user, this.#settings.accountIdClaim),
      claims: user as Record<string, unknown>,
      expiresAt,
      clientId,
      strategy: 'user-api',
    };
  }
}

const withSlash = (u: string) => (u.endsWith('/') ? u : `${u}/`);
