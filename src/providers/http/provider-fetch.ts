import { AsyncLocalStorage } from 'node:async_hooks';
import CircuitBreaker from 'opossum';
import { authJwtError } from '../../errors.ts';
import { limitResponseBody, MAX_PROVIDER_BODY_BYTES } from './response-body.ts';

export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Outbound HTTP call observer (metrics). `result`: 2xx, 3xx, 4xx, 5xx, timeout, error, aborted. */
export interface ProviderCallObserver {
  onProviderCall?(event: { provider: string; endpoint: string; result: string; durationSeconds: number }): void;
}

export interface ProviderFetchOptions {
  provider: string;
  timeoutMs: number;
  observer?: ProviderCallObserver | undefined;
  /** Maps a URL to a fixed endpoint label (discovery, jwks, introspection, userinfo, user_api…). */
  endpointOf: (url: URL) => string;
  /** Retries of idempotent (GET) calls after a network error, timeout or 5xx. */
  retries?: number;
  circuitBreaker?: { enabled: boolean; errorRatio: number; minimumCalls: number; openFor: number; window: number } | undefined;
  /** Largest response body read (bytes); default 1 MiB. */
  maxBodyBytes?: number;
  /** Injectable for tests. */
  fetch?: FetchFn | undefined;
}

/**
 * The caller's abort signal for provider calls made by libraries that take none per call
 * (openid-client's introspection and userinfo): set around such a call with {@link withCallSignal}.
 * Shared fetches (discovery, JWKS) run outside it, so one caller leaving never aborts them for others.
 */
const callSignal = new AsyncLocalStorage<AbortSignal>();

export function withCallSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return signal ? callSignal.run(signal, fn) : fn();
}

/** A 5xx answer, thrown inside the breaker so it counts as a failure, then unwrapped for the caller. */
class ServerErrorResponse extends Error {
  readonly response: Response;
  constructor(response: Response) {
    super(`status ${response.status}`);
    this.response = response;
  }
}

/** The caller gave up (deadline, shutdown): says nothing about the provider's health. */
class CallerAborted extends Error {
  constructor(cause: unknown) {
    super('caller aborted', { cause });
  }
}

/**
 * fetch for provider calls:
 * - a timeout on every attempt, and the caller's signal (explicit, or from {@link withCallSignal});
 * - redirects never followed (a 3xx is an error, so a provider cannot bounce us to another host);
 * - every response body capped (default 1 MiB), streamed: a provider cannot make us buffer more;
 * - bounded retries with full jitter for idempotent (GET) calls after network errors, timeouts and 5xx;
 * - a circuit breaker per provider: when most recent calls failed, calls fail fast with UNAVAILABLE
 *   for `openFor`, then one trial call decides;
 * - one observation per attempt (metrics).
 */
export function createProviderFetch(options: ProviderFetchOptions): FetchFn {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const retries = options.retries ?? 0;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_PROVIDER_BODY_BYTES;

  const attempt = async (input: string | URL | Request, init: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const endpoint = options.endpointOf(url);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const started = performance.now();
    let result: string | undefined;
    try {
      const response = await baseFetch(input, { ...init, signal, redirect: 'manual' });
      result = response.status >= 500 ? '5xx' : response.status >= 400 ? '4xx' : response.status >= 300 ? '3xx' : '2xx';
      const limited = limitResponseBody(response, maxBodyBytes);
      if (response.status >= 500) throw new ServerErrorResponse(limited);
      return limited;
    } catch (error) {
      if (result !== undefined) throw error; // answered: a 5xx or an oversized body
      if (init.signal?.aborted) {
        result = 'aborted';
        throw new CallerAborted(error);
      }
      result = timeout.aborted ? 'timeout' : 'error';
      throw error;
    } finally {
      options.observer?.onProviderCall?.({
        provider: options.provider,
        endpoint,
        result: result ?? 'error',
        durationSeconds: (performance.now() - started) / 1000,
      });
    }
  };

  const withRetries = async (input: string | URL | Request, init: RequestInit): Promise<Response> => {
    const idempotent = (init.method ?? 'GET').toUpperCase() === 'GET';
    for (let n = 0; ; n++) {
      try {
        return await attempt(input, init);
      } catch (error) {
        if (
          !idempotent ||
          n >= retries ||
          error instanceof CallerAborted ||
          (error as { code?: string }).code === 'ERR_AUTHJWT_PROVIDER_RESPONSE_TOO_LARGE'
        )
          throw error;
        // Full jitter: spread retries of many replicas over time instead of synchronising them.
        await new Promise((r) => setTimeout(r, Math.random() * 100 * 2 ** n));
        init.signal?.throwIfAborted();
      }
    }
  };

  const cb = options.circuitBreaker;
  const breaker = cb?.enabled
    ? new CircuitBreaker(withRetries, {
        timeout: false, // every attempt has its own timeout
        errorThresholdPercentage: cb.errorRatio * 100,
        volumeThreshold: cb.minimumCalls,
        resetTimeout: cb.openFor,
        rollingCountTimeout: cb.window,
        rollingCountBuckets: 10,
        errorFilter: (error: unknown) => error instanceof CallerAborted,
      })
    : undefined;

  return async (input: string | URL | Request, init: RequestInit = {}) => {
    // A library's own signal (openid-client's timeout) and the caller's (withCallSignal) both apply.
    const caller = callSignal.getStore();
    const signal = caller && init.signal ? AbortSignal.any([init.signal, caller]) : (init.signal ?? caller);
    const request = signal === init.signal ? init : { ...init, signal };
    try {
      return breaker ? await breaker.fire(input, request) : await withRetries(input, request);
    } catch (error) {
      if (error instanceof ServerErrorResponse) return error.response;
      if (error instanceof CallerAborted) throw error.cause;
      if (breaker && (error as { code?: string }).code === 'EOPENBREAKER') {
        throw authJwtError('PROVIDER_CIRCUIT_OPEN', { metadata: { provider: options.provider } });
      }
      throw error;
    }
  };
}

/** Network failures and timeouts: the provider could not be asked. */
export function isTransportError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'TimeoutError' ||
    error.name === 'AbortError' ||
    (error.name === 'TypeError' && /fetch failed|network|terminated/i.test(error.message)) ||
    'errno' in error ||
    (error.cause instanceof Error && isTransportError(error.cause))
  );
}
