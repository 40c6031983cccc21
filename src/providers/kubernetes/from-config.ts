import type { Config, ProviderConfig } from '../../config/types.ts';
import type { FetchFn, ProviderCallObserver } from '../http/provider-fetch.ts';
import { createKubernetesTokenVerifier, type KubernetesTokenVerifier } from './kubernetes-verifier.ts';

/** The registry's one line for the `kubernetes` kind: a provider's configuration → its verifier. */
export function kubernetesVerifierFor(
  p: ProviderConfig,
  config: Pick<Config, 'clockTolerance'>,
  deps: { observer?: ProviderCallObserver | undefined; fetch?: FetchFn | undefined; clock?: (() => number) | undefined },
): KubernetesTokenVerifier {
  const k = p.kubernetes!;
  return createKubernetesTokenVerifier({
    provider: p.id,
    issuer: k.issuer,
    audiences: p.audiences ?? [],
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
    clockTolerance: config.clockTolerance,
    timeout: p.timeout,
    retries: p.retries,
    circuitBreaker: p.circuitBreaker,
    observer: deps.observer,
    fetch: deps.fetch,
    clock: deps.clock,
  });
}
