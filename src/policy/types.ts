/** The policy module's public shapes: what configuration gives it; what the exchange gets back is its AccessPolicy port (src/exchange/ports.ts). */

import type { AccessPolicy, LookupName, PolicyDecision, PolicyInput } from '../exchange/ports.ts';

export type { LookupName, PolicyDecision };

/** One `allow` rule: a CEL expression of type bool, optionally named (the name is shown to callers when it denies). */
export interface AllowRule {
  /** 1 to 64 characters of `A-Z a-z 0-9 _ . : -`; default `allow[<index>]`. */
  name?: string;
  expression: string;
}

/** A provider's policy, as configured. */
export interface PolicySource {
  /** Who may get a token: one CEL expression, or a list of them that must all hold. Absent: everyone. */
  allow?: string | readonly (string | AllowRule)[];
  /** Extra claims of the minted token: claim name → CEL expression computing its value. */
  claims?: Readonly<Record<string, string>>;
}

export interface PolicyLimits {
  /** Characters in one expression. Default 2048. */
  maxExpressionLength?: number;
  /** Worst-case cost of one expression (see src/policy/analyze.ts for the unit). Default 100 000. */
  maxCost?: number;
  /** Entries of one list or map in the input (claims and lookups). Default 1000. */
  maxListItems?: number;
  /** Characters of one string in `claims`. Default 4096 (lookup strings: 256). */
  maxStringLength?: number;
  /** Nesting depth of `claims`. Default 32. */
  maxDepth?: number;
}

export interface CompileOptions {
  /** Configuration path of the policy's provider, for errors, e.g. `providers[2]`. */
  path: string;
  /** The lookups this provider can make, e.g. `['github.orgs', 'github.teams']`; `[]` for OIDC providers. */
  lookups: readonly LookupName[];
  limits?: PolicyLimits;
}

/** What a policy is evaluated on: the exchange's {@link PolicyInput}. */
export type EvaluationInput = PolicyInput;

/** The exchange's {@link AccessPolicy} port, compiled from configuration. */
export interface CompiledPolicy extends AccessPolicy {
  /** The allow rules, in order. */
  readonly rules: readonly { name: string }[];
  /** Names of the computed claims, in order. */
  readonly claimNames: readonly string[];
  /** Runs the allow rules (in order, stopping at the first that does not hold), then the computed claims. Never throws. */
  evaluate(input: EvaluationInput): PolicyDecision;
}
