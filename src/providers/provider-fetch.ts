import { providerUnavailable } from '../errors.ts';
import type { ProviderCallObserver } from './types.ts';

export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ProviderFetchOptions {
  provider: string;
  timeoutMs: number;
  observer?: ProviderCallObserver | undefined;
  /** Maps a URL to a fixed endpoint label (discovery, jwks, introspection, userinfo, user_api…). */
  endpointOf: (url: URL) => string;
  /** Injectable for tests. */
  fetch?: FetchFn | undefined;
}

/**
 * fetch for provider calls: a timeout on every call, redirects never followed (a 3xx is an error,
 * so a provider cannot bounce us to another host), and one observation per call.
 */
export function createProviderFetch(options: ProviderFetchOptions): FetchFn {
  const baseFetch = options.fetch ?? globalThis.fetch;
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const endpoint = options.endpointOf(url);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const started = performance.now();
    let result = 'error';
    try {
      const response = await baseFetch(input, { ...init, signal, redirect: 'manual' });
      result = response.status >= 500 ? '5xx' : response.status >= 400 ? '4xx' : response.status >= 300 ? '3xx' : '2xx';
      return response;
    } catch (error) {
      result = timeout.aborted ? 'timeout' : 'error';
      throw error;
    } finally {
      options.observer?.onProviderCall?.({ provider: options.provider, endpoint, result, durationSeconds: (performance.now() - started) / 1000 });
    }
  };
}

/** Reads a JSON body of at most `maxBytes`; garbage or oversize is a provider fault (UNAVAILABLE). */
export async function readJsonBody(response: Response, provider: string, maxBytes = 1024 * 1024): Promise<unknown> {
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > maxBytes) throw providerUnavailable('BAD_RESPONSE', `provider ${provider} answered with an oversized body`);
  const text = await response.text();
  if (text.length > maxBytes) throw providerUnavailable('BAD_RESPONSE', `provider ${provider} answered with an oversized body`);
  try {
    return JSON.parse(text);
  } catch {
    throw providerUnavailable('BAD_RESPONSE', `provider ${provider} answered with invalid JSON`);
  }
}

/** Network failures and timeouts: the provider could not be asked. */
export function isTransportError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'TimeoutError' || error.name === 'AbortError' || (error.name === 'TypeError' && /fetch failed|network|terminated/i.test(error.message)) || 'errno' in error || (error.cause instanceof Error && isTransportError(error.cause));
}
