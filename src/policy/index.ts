/**
 * Access policy and computed claims in CEL, per provider: compiled and type-checked once at start
 * ({@link compilePolicy}), evaluated per exchange ({@link CompiledPolicy.evaluate}), bounded and failing closed.
 * Design record: docs/policy-engine-choice.md.
 */
export { compilePolicy, PolicyCompileError, DEFAULT_POLICY_LIMITS, RESERVED_CLAIM_NAMES } from './compile.ts';
export { LOOKUP_NAMES } from './types.ts';
export type {
  AllowRule,
  CompileOptions,
  CompiledPolicy,
  EvaluationInput,
  LookupName,
  PolicyDecision,
  PolicyLimits,
  PolicySource,
} from './types.ts';
