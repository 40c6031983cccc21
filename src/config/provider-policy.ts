import { compilePolicy, type CompiledPolicy } from '../policy/index.ts';
import { availableLookups } from '../providers/registry.ts';
import type { ProviderConfig } from './types.ts';

/** Policies compiled by buildConfig (to refuse a bad expression at load), reused by the composition root. */
const compiled = new WeakMap<ProviderConfig, CompiledPolicy>();

/**
 * Compiles a provider's `allow` rules and computed claims (docs/policy.md) against the lookups the
 * provider can make. Throws PolicyCompileError (a ConfigError) naming each bad field with `line:column`.
 * `path` is the provider's place in the configuration, e.g. `providers[2]`. Undefined: no policy.
 * Compiled once per provider object: the configuration is frozen after load, so the result cannot go stale.
 */
export function compileProviderPolicy(provider: ProviderConfig, path: string): CompiledPolicy | undefined {
  if (!provider.policy) return undefined;
  let policy = compiled.get(provider);
  if (!policy) {
    policy = compilePolicy(provider.policy, { path, lookups: availableLookups(provider) });
    compiled.set(provider, policy);
  }
  return policy;
}
