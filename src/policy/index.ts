/**
 * Access policy and computed claims in CEL, per provider: compiled and type-checked once at start
 * ({@link compilePolicy}), evaluated per exchange ({@link CompiledPolicy.evaluate}), bounded and failing closed.
 * Design record: docs/policy-engine-choice.md.
 */
export { compilePolicy, PolicyCompileError, RESERVED_CLAIM_NAMES } from './compile.ts';
export type {
  CompiledPolicy,
  EvaluationInput,
  LookupName,
  PolicyDecision,
  PolicySource,
} from './types.ts';
