/**
 * Access policy and computed claims in CEL, per provider: compiled and type-checked once at start
 * ({@link compilePolicy}), evaluated per exchange ({@link CompiledPolicy.evaluate}), bounded and failing closed.
 * Design record: docs/policy-engine-choice.md.
 */
export { RESERVED_CLAIM_NAMES } from '../exchange/claims.ts';
export { compilePolicy, PolicyCompileError } from './compile.ts';
export type {
  CompiledPolicy,
  EvaluationInput,
  LookupName,
  PolicyDecision,
  PolicySource,
} from './types.ts';
