import type { ProviderConfig, UserApiStrategyConfig } from '../config/load.ts';
import { isAuthJwtError, providerUnavailable, tokenRejected, type AuthJwtError } from '../errors.ts';
import { accountIdOf, readPath } from './claims.ts';
import { createProviderFetch, isTransportError, readJsonBody, type FetchFn } from './provider-fetch.ts';
import type { ProviderCallObserver, TokenVerifier, VerifiedIdentity, VerifyOptions } from './types.ts';

export interface UserApiVerifierOptions {
  observer?: ProviderCallObserver | undefined;
  fetch?: FetchFn | undefined;
}

/**
 * OAuth providers without token introspection (GitHub, GitLab, …): the token is proven by calling the
 * provider's user API with it; the answer names the account. For the GitHub preset with our OAuth app's
 * credentials, the token is first checked with `POST /applications/{client_id}/token`, which only
 * succeeds for tokens issued to *our* app, and the user is taken from that answer.
 */
export class UserApiVerifier implements TokenVerifier {
  readonly providerId: string;
  readonly #provider: ProviderConfig;
  readonly #strategy: UserApiStrategyConfig;
  readonly #fetch: FetchFn;

  constructor(provider: ProviderConfig, options: UserApiVerifierOptions = {}) {
    if (provider.strategy.kind !== 'user-api') throw new TypeError('UserApiVerifier needs a user-api provider');
    this.providerId = provider.id;
    this.#provider = provider;
    this.#strategy = provider.strategy;
    this.#fetch = createProviderFetch({
      provider: provider.id,
      timeoutMs: provider.timeout,
      retries: provider.retries,
      circuitBreaker: provider.circuitBreaker,
      observer: options.observer,
      fetch: options.fetch,
      endpointOf: (url) => (url.pathname.includes('/applications/') ? 'token_binding' : 'user_api'),
    });
  }

  get bindsTokensToClient(): boolean {
    return this.#strategy.preset === 'github' && !!this.#provider.clientId && !!this.#provider.clientSecret;
  }

  async verify(token: string, options: VerifyOptions = {}): Promise<VerifiedIdentity> {
    try {
      return this.bindsTokensToClient ? await this.#verifyWithGitHubApp(token, options) : await this.#verifyWithUserApi(token, options);
    } catch (error) {
      throw this.#classify(error);
    }
  }

  async #verifyWithUserApi(token: string, options: VerifyOptions): Promise<VerifiedIdentity> {
    const response = await this.#fetch(this.#strategy.userinfoUrl, {
      method: 'GET',
      headers: { accept: 'application/json', ...this.#strategy.headers, authorization: `Bearer ${token}` },
      signal: options.signal,
    });
    this.#checkStatus(response, 'user API');
    const body = await readJsonBody(response, this.providerId);
    return this.#identity(body, undefined, undefined);
  }

  async #verifyWithGitHubApp(token: string, options: VerifyOptions): Promise<VerifiedIdentity> {
    const clientId = this.#provider.clientId!;
    const basic = Buffer.from(`${clientId}:${this.#provider.clientSecret!.reveal()}`).toString('base64');
    const url = new URL(`applications/${encodeURIComponent(clientId)}/token`, withSlash(this.#strategy.apiBaseUrl!));
    const response = await this.#fetch(url, {
      method: 'POST',
      headers: { ...this.#strategy.headers, 'content-type': 'application/json', authorization: `Basic ${basic}` },
      body: JSON.stringify({ access_token: token }),
      signal: options.signal,
    });
    if (response.status === 404 || response.status === 422) {
      await response.body?.cancel();
      throw tokenRejected('NOT_ISSUED_TO_CLIENT', `access token is not valid for our ${this.providerId} OAuth app`);
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      // Our app credentials were refused: a configuration problem, not the caller's.
      throw providerUnavailable('CLIENT_AUTH_FAILED', `provider ${this.providerId} refused our OAuth app credentials`, { detail: `status ${response.status}` });
    }
    this.#checkStatus(response, 'token check');
    const body = await readJsonBody(response, this.providerId);
    const appClientId = readPath(body, 'app.client_id');
    if (appClientId !== undefined && appClientId !== clientId) throw tokenRejected('NOT_ISSUED_TO_CLIENT', `access token is not valid for our ${this.providerId} OAuth app`);
    const expiresAt = typeof readPath(body, 'expires_at') === 'string' ? Date.parse(readPath(body, 'expires_at') as string) : undefined;
    return this.#identity(readPath(body, 'user'), clientId, Number.isFinite(expiresAt) ? expiresAt : undefined);
  }

  #checkStatus(response: Response, what: string): void {
    const s = response.status;
    if (s >= 200 && s < 300) return;
    void response.body?.cancel();
    if (s === 401) throw tokenRejected('REJECTED_BY_PROVIDER', `provider ${this.providerId} rejected the access token`);
    const rateLimited = s === 429 || (s === 403 && response.headers.get('x-ratelimit-remaining') === '0');
    if (rateLimited) throw providerUnavailable('RATE_LIMITED', `provider ${this.providerId} is rate limiting us`);
    if (s >= 400 && s < 500) throw tokenRejected('REJECTED_BY_PROVIDER', `provider ${this.providerId} rejected the access token`, { detail: `${what} status ${s}` });
    throw providerUnavailable('BAD_STATUS', `provider ${this.providerId} ${what} failed`, { detail: `status ${s}` });
  }

  #identity(user: unknown, clientId: string | undefined, expiresAt: number | undefined): VerifiedIdentity {
    if (user === null || typeof user !== 'object' || Array.isArray(user)) throw providerUnavailable('BAD_RESPONSE', `provider ${this.providerId} answered with an unexpected shape`);
    const accountId = accountIdOf(readPath(user, this.#strategy.accountIdField));
    if (accountId === undefined) throw tokenRejected('NO_ACCOUNT_ID', `provider ${this.providerId} did not return an account id (${this.#strategy.accountIdField})`);
    return { accountId, profile: user as Record<string, unknown>, expiresAt, clientId, strategy: 'user-api' };
  }

  #classify(error: unknown): AuthJwtError {
    if (isAuthJwtError(error)) return error;
    if (isTransportError(error)) return providerUnavailable('UNREACHABLE', `provider ${this.providerId} is unreachable`, { cause: error, detail: (error as Error).message });
    return providerUnavailable('BAD_RESPONSE', `provider ${this.providerId} gave an unusable answer`, { cause: error, detail: (error as Error).message });
  }
}

const withSlash = (u: string) => (u.endsWith('/') ? u : `${u}/`);
