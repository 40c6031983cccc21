import CircuitBreaker from 'opossum';
import { providerUnavailable } from '../errors.ts';
import type { ProviderCallObserver } from './types.ts';

export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ProviderFetchOptions {
  provider: string;
  timeoutMs: number;
  observer?: ProviderCallObserver | undefined;
  /** Maps a URL to a fixed endpoint label (discovery, jwks, introspection, userinfo, user_api…). */
  endpointOf: (url: URL) => string;
  /** Retries of idempotent (GET) calls after a network error, timeout or 5xx. */
  retries?: number;
  circuitBreaker?: { enabled: boolean; errorRatio: number; minimumCalls: number; openFor: number; window: number } | undefined;
  /** Injectable for tests. */
  fetch?: FetchFn | undefined;
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

export interface ProviderFetch extends FetchFn {
  /** Circuit state for status pages and tests. */
  readonly circuit: () => 'closed' | 'open' | 'half_open';
}

/**
 * fetch for provider calls:
 * - a timeout on every attempt; redirects never followed (a 3xx is an error, so a provider cannot
 *   bounce us to another host);
 * - bounded retries with full jitter for idempotent (GET) calls after network errors, timeouts and 5xx;
 * - a circuit breaker per provider: when most recent calls failed, calls fail fast with UNAVAILABLE
 *   for `openFor`, then one trial call decides;
 * - one observation per attempt (metrics).
 */
export function createProviderFetch(options: ProviderFetchOptions): ProviderFetch {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const retries = options.retries ?? 0;

  const attempt = async (input: string | URL | Request, init: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const endpoint = options.endpointOf(url);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const started = performance.now();
    let result = 'error';
    try {
      const response = await baseFetch(input, { ...init, signal, redirect: 'manual' });
      result = response.status >= 500 ? '5xx' : response.status >= 400 ? '4xx' : response.status >= 300 ? '3xx' : '2xx';
      if (response.status >= 500) throw new ServerErrorResponse(response);
      return response;
    } catch (error) {
      if (error instanceof ServerErrorResponse) throw error;
      if (init.signal?.aborted) {
        result = 'aborted';
        throw new CallerAborted(error);
      }
      result = timeout.aborted ? 'timeout' : 'error';
      throw error;
    } finally {
      options.observer?.onProviderCall?.({ provider: options.provider, endpoint, result, durationSeconds: (performance.now() - started) / 1000 });
    }
  };

  const withRetries = async (input: string | URL | Request, init: RequestInit): Promise<Response> => {
    const idempotent = (init.method ?? 'GET').toUpperCase() === 'GET';
    for (let n = 0; ; n++) {
      try {
        return await attempt(input, init);
      } catch (error) {
        if (!idempotent || n >= retries || error instanceof CallerAborted) throw error;
        // Full jitter: spread retries of many replicas over time instead of synchronising them.
        await new Promise((r) => setTimeout(r, Math.random() * 100 * 2 ** n));
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

  const fetchFn = (async (input: string | URL | Request, init: RequestInit = {}) => {
    try {
      return breaker ? await breaker.fire(input, init) : await withRetries(input, init);
    } catch (error) {
      if (error instanceof ServerErrorResponse) return error.response;
      if (error instanceof CallerAborted) throw error.cause;
      if (breaker && (error as { code?: string }).code === 'EOPENBREAKER') {
        throw providerUnavailable('CIRCUIT_OPEN', `provider ${options.provider} is failing; calls are paused briefly`);
      }
      throw error;
    }
  }) as ProviderFetch;
  Object.defineProperty(fetchFn, 'circuit', {
    value: () => (!breaker ? 'closed' : breaker.opened ? 'open' : breaker.halfOpen ? 'half_open' : 'closed'),
  });
  return fetchFn;
}

/**
 * Reads a JSON body of at most `maxBytes`, streaming: a provider cannot make us buffer more than the
 * limit (no content-length, chunked). Garbage or oversize is a provider fault (UNAVAILABLE).
 */
export async function readJsonBody(response: Response, provider: string, maxBytes = 1024 * 1024): Promise<unknown> {
  const tooLarge = () => providerUnavailable('BAD_RESPONSE', `provider ${provider} answered with an oversized body`);
  if (Number(response.headers.get('content-length') ?? '0') > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw providerUnavailable('BAD_RESPONSE', `provider ${provider} answered with invalid JSON`);
  }
}

/** Network failures and timeouts: the provider could not be asked. */
export function isTransportError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'TimeoutError' || error.name === 'AbortError' || (error.name === 'TypeError' && /fetch failed|network|terminated/i.test(error.message)) || 'errno' in error || (error.cause instanceof Error && isTransportError(error.cause));
}
