import { compilePolicy, type CompiledPolicy } from '../policy/index.ts';
import { availableLookups } from '../providers/registry.ts';
import type { ProviderConfig } from './types.ts';

/**
 * Compiles a provider's `allow` rules and computed claims (docs/policy.md) against the lookups the
 * provider can make. Throws PolicyCompileError (a ConfigError) naming each bad field with `line:column`.
 * `path` is the provider's place in the configuration, e.g. `providers[2]`. Undefined: no policy.
 */
export function compileProviderPolicy(provider: ProviderConfig, path: string): CompiledPolicy | undefined {
  if (!provider.policy) return undefined;
  return compilePolicy(provider.policy, { path, lookups: availableLookups(provider) });
}
