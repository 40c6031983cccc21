import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import { authJwtError } from '../../errors.ts';
import { createProviderFetch, type FetchFn, type ProviderFetchOptions } from '../http/provider-fetch.ts';

/** kubelet rotates projected tokens well before they expire; client-go re-reads its token file every minute too. */
const RELOAD_INTERVAL_MS = 60_000;

export interface ApiServerFetchOptions {
  /** The API server: the only origin this fetch talks to, and the only one that ever sees the token. */
  apiServer: string;
  /** authjwt's own service-account token (re-read every minute and after a 401). */
  tokenFile: string;
  /** The CAs trusted for the API server's certificate (re-read every minute); unused over http (loopback tests). */
  caFile: string;
  /** The fetch underneath (global fetch; injectable for tests). It receives the CA-pinned undici dispatcher. */
  fetch?: FetchFn | undefined;
  readFile?: (path: string) => Promise<Buffer>;
  clock?: () => number;
  /** The provider's outbound rules (timeout, retries, circuit breaker, body cap, metrics), applied per attempt. */
  transport: Omit<ProviderFetchOptions, 'fetch'>;
}

interface Loaded<T> {
  value: T;
  at: number;
}

/**
 * fetch for calls to the Kubernetes API server with authjwt's own identity: `Authorization: Bearer`
 * with the pod's service-account token and TLS verified against the cluster CA only (an undici Agent
 * whose `connect.ca` is the CA bundle: the system trust store is not used for it). A request for any
 * other origin is refused before anything is sent, so a discovery document cannot make authjwt send
 * its token elsewhere (the lesson of keycloak#42816's review). Both files are re-read every minute
 * (kubelet rotates the token, the cluster CA can rotate); a 401 forces a re-read for the next call.
 * Around it the provider's usual outbound rules (src/providers/http/provider-fetch.ts: timeout,
 * retries, breaker, body cap, one metric per attempt). Unreadable files are
 * `PROVIDER_CREDENTIALS_UNREADABLE`; a 401/403 answer is `PROVIDER_KUBERNETES_FORBIDDEN` — both
 * UNAVAILABLE: authjwt's own credentials or RBAC, never the caller's token.
 */
export function createApiServerFetch(options: ApiServerFetchOptions): FetchFn & { close(): Promise<void> } {
  const origin = new URL(options.apiServer).origin;
  const tls = origin.startsWith('https:');
  const base = options.fetch ?? globalThis.fetch;
  const read = options.readFile ?? ((path: string) => readFile(path));
  const clock = options.clock ?? Date.now;
  let token: Loaded<string> | undefined;
  let ca: Loaded<{ pem: string; agent: Agent }> | undefined;
  const retired: Agent[] = [];

  const load = async (path: string, what: string): Promise<string> => {
    try {
      return (await read(path)).toString('utf8');
    } catch (error) {
      throw authJwtError('PROVIDER_CREDENTIALS_UNREADABLE', {
        cause: error,
        detail: `${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      });
    }
  };
  const currentToken = async (): Promise<string> => {
    if (token && clock() - token.at < RELOAD_INTERVAL_MS) return token.value;
    const value = (await load(options.tokenFile, 'service-account token')).trim();
    if (!value) throw authJwtError('PROVIDER_CREDENTIALS_UNREADABLE', { detail: `service-account token ${options.tokenFile}: empty` });
    token = { value, at: clock() };
    return value;
  };
  const currentAgent = async (): Promise<Agent | undefined> => {
    if (!tls) return undefined;
    if (ca && clock() - ca.at < RELOAD_INTERVAL_MS) return ca.value.agent;
    const pem = await load(options.caFile, 'CA bundle');
    if (ca && ca.value.pem === pem) {
      ca.at = clock();
      return ca.value.agent;
    }
    // A rotated CA: new connections use the new bundle; the old agent finishes its requests, then closes.
    if (ca) {
      const old = ca.value.agent;
      retired.push(old);
      void old.close().finally(() => retired.splice(retired.indexOf(old), 1));
    }
    ca = { value: { pem, agent: new Agent({ connect: { ca: pem }, keepAliveTimeout: 30_000 }) }, at: clock() };
    return ca.value.agent;
  };

  const authenticated: FetchFn = async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.origin !== origin) {
      throw authJwtError('PROVIDER_BAD_RESPONSE', {
        detail: `refused to send authjwt's service-account token to ${url.origin} (only ${origin})`,
      });
    }
    const [bearer, dispatcher] = await Promise.all([currentToken(), currentAgent()]);
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${bearer}`);
    const response = await base(input, {
      ...init,
      headers,
      ...(dispatcher ? { dispatcher: dispatcher as unknown as RequestInit['dispatcher'] } : {}),
    });
    // The token may have rotated under us (or expired): read it again for the next call.
    if (response.status === 401) token = undefined;
    return response;
  };
  const outbound = createProviderFetch({ ...options.transport, fetch: authenticated });
  const apiServerFetch: FetchFn = async (input, init) => {
    const response = await outbound(input, init);
    if (response.status === 401 || response.status === 403) {
      void response.body?.cancel().catch(() => undefined);
      const path = new URL(input instanceof Request ? input.url : input).pathname;
      throw authJwtError('PROVIDER_KUBERNETES_FORBIDDEN', { detail: `${path} answered ${response.status}` });
    }
    return response;
  };
  return Object.assign(apiServerFetch, {
    close: async () => {
      await Promise.all([ca?.value.agent.close(), ...retired.map((a) => a.close())]);
    },
  });
}
