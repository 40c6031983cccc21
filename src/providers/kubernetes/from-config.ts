import type { Config, ProviderConfig } from '../../config/types.ts';
import type { FetchFn, ProviderCallObserver } from '../http/provider-fetch.ts';
import { createKubernetesTokenVerifier, type KubernetesTokenVerifier } from './kubernetes-verifier.ts';

/**
 * A `kubernetes` provider's configuration → its verifier: the registry's one line for the kind, and the
 * token endpoint's trust source of kind `provider` (with that door's `audiences`).
 */
export function kubernetesVerifierFor(
  p: ProviderConfig,
  config: Pick<Config, 'clockTolerance'>,
  deps: {
    observer?: ProviderCallObserver | undefined;
    fetch?: FetchFn | undefined;
    clock?: (() => number) | undefined;
    /** Accepted audiences instead of the provider's `audiences` (another door). */
    audiences?: readonly string[] | undefined;
    /** Label of its API-server calls instead of the provider id. */
    metricLabel?: string | undefined;
  },
): KubernetesTokenVerifier {
  const k = p.kubernetes!;
  return createKubernetesTokenVerifier({
    provider: deps.metricLabel ?? p.id,
    issuer: k.issuer,
    audiences: deps.audiences ?? p.audiences ?? [],
    apiAudiences: k.apiAudiences,
    apiServer: k.apiServer,
    tokenFile: k.tokenFile,
    caFile: k.caFile,
    jwksFile: k.jwksFile,
    subject: k.subject,
    allowDefaultServiceAccount: k.allowDefaultServiceAccount,
    maxTokenLifetime: k.maxTokenLifetime,
    tokenReview: k.tokenReview,
    algorithms: k.algorithms,
    jwksCooldown: k.jwksCooldown,
    scopes: k.scopes,
    clockTolerance: config.clockTolerance,
    timeout: p.timeout,
    retries: p.retries,
    circuitBreaker: p.circuitBreaker,
    observer: deps.observer,
    fetch: deps.fetch,
    clock: deps.clock,
  });
}
