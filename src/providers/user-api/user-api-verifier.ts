import { authJwtError } from '../../errors.ts';
import { readPath } from '../../exchange/claims.ts';
import type { CallOptions, LookupName, LookupResult, TokenVerifier, VerifiedIdentity } from '../../exchange/ports.ts';
import { classifyProviderError } from '../classify-error.ts';
import type { FetchFn } from '../http/provider-fetch.ts';
import { readJsonBody } from '../http/response-body.ts';
import { accountIdOf, parseScopes } from '../token-rules.ts';
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
  /**
   * Where the token's scopes come from ({@link VerifiedIdentity.scopes}): `github`, the `X-OAuth-Scopes`
   * header of the user API's answer (the `scopes` of the token check with app credentials); `gitlab`,
   * `GET {tokenInfoUrl}` (Doorkeeper's token info, `scope` array), asked beside the user API;
   * undefined: not determined (other user APIs say nothing about scopes).
   */
  scopes?: { source: 'github' } | { source: 'gitlab'; tokenInfoUrl: string } | undefined;
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
    const scopeSource = this.#settings.scopes;
    // Asked beside the user API (no added latency); its failure counts only once the user API proved the token.
    const info = scopeSource?.source === 'gitlab' ? this.#gitLabTokenInfo(scopeSource.tokenInfoUrl, token, options) : undefined;
    info?.catch(() => undefined);
    const response = await this.#settings.fetch(this.#settings.url, {
      method: 'GET',
      headers: { accept: 'application/json', ...this.#settings.headers, authorization: `Bearer ${token}` },
      signal: options.signal,
    });
    await checkStatus(response, 'user API', token);
    const identity = this.#identity(await readJsonBody(response), undefined, undefined);
    const tokenInfo = await info;
    if (scopeSource?.source === 'github') {
      // GitHub names an OAuth app's or a classic PAT's scopes in every answer ("repo, user:email"; empty
      // when it has none); fine-grained PATs and GitHub App tokens have permissions, and no such header.
      const header = response.headers.get('x-oauth-scopes');
      return { ...identity, scopes: header === null ? undefined : parseScopes(header, /[\s,]+/) };
    }
    if (tokenInfo === undefined) return identity;
    // The token info must be about the same user as the user API's answer (both are the provider's word on one token).
    if (tokenInfo.ownerId !== undefined && tokenInfo.ownerId !== identity.accountId)
      throw authJwtError('UPSTREAM_SUBJECT_MISMATCH', { detail: 'token info resource_owner_id is not the user API id' });
    return { ...identity, scopes: tokenInfo.scopes };
  }

  /**
   * GitLab `GET /oauth/token/info` with the token: `scope` (array; `scopes` before GitLab 17) and
   * `resource_owner_id`. A 4xx answer (a personal, project or group access token, which the OAuth
   * endpoint does not know) leaves the scopes undetermined; a 5xx or a network failure fails the
   * verification like the user API's would (UNAVAILABLE).
   */
  async #gitLabTokenInfo(
    url: string,
    token: string,
    options: CallOptions,
  ): Promise<{ scopes: readonly string[] | undefined; ownerId: string | undefined }> {
    const response = await this.#settings.fetch(url, {
      method: 'GET',
      headers: { accept: 'application/json', authorization: `Bearer ${token}` },
      signal: options.signal,
    });
    if (response.status >= 400 && response.status < 500) {
      await response.body?.cancel();
      return { scopes: undefined, ownerId: undefined };
    }
    await checkStatus(response, 'token info', token);
    const body = await readJsonBody(response);
    const scope = readPath(body, 'scope') ?? readPath(body, 'scopes');
    const owner = readPath(body, 'resource_owner_id');
    return {
      scopes: parseScopes(scope),
      ownerId: typeof owner === 'number' && Number.isSafeInteger(owner) ? String(owner) : typeof owner === 'string' ? owner : undefined,
    };
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
    const identity = this.#identity(readPath(body, 'user'), app.clientId, Number.isFinite(expiresAt) ? expiresAt : undefined);
    // The token check names an OAuth app token's scopes (`scopes`: an array; `[]` for a GitHub App's token,
    // which has permissions instead). Absent: undetermined.
    return { ...identity, scopes: parseScopes(readPath(body, 'scopes')) };
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
