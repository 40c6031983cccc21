/**
 * CEL `matches()` on RE2 (the `re2js` port): linear-time matching, never JavaScript's backtracking
 * `RegExp`. Patterns come from configuration only — a policy may pass nothing but a string literal as
 * the pattern — and are compiled once, when the policy is compiled at start. Design record and the
 * engine comparison: docs/policy-engine-choice.md.
 */
import { RE2JS } from 're2js';

/** Characters of one pattern. */
const MAX_PATTERN_LENGTH = 512;
/** RE2 program size (instructions) of one pattern: bounds the work per input character. */
const MAX_PATTERN_PROGRAM_SIZE = 1000;
/**
 * Characters of a string `matches()` is applied to; a longer one is an evaluation error (the policy
 * denies). Identifiers are shorter: a Kubernetes service-account username is at most 339 characters,
 * an email address 254.
 */
export const MAX_MATCH_INPUT_LENGTH = 512;

/** A pattern compiled at start: what `matches()` runs, and its size for the cost analysis. */
export interface CompiledPattern {
  readonly programSize: number;
  test(input: string): boolean;
}

/** A pattern that cannot be used; `message` names the problem, never echoes more than the pattern itself. */
export class PatternError extends Error {}

/** Compiled patterns by source: shared by every policy (the set is bounded by the configuration). */
const compiled = new Map<string, CompiledPattern>();

/**
 * Compiles an RE2 pattern (syntax: https://github.com/google/re2/wiki/Syntax; no backreferences, no
 * lookaround). Throws {@link PatternError} for invalid syntax or a pattern over the size bounds.
 */
export function compilePattern(pattern: string): CompiledPattern {
  const known = compiled.get(pattern);
  if (known) return known;
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw new PatternError(`the pattern is ${pattern.length} characters long, over the limit of ${MAX_PATTERN_LENGTH}`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (error) {
    // re2js messages quote the offending part of the pattern (configuration, not a secret).
    throw new PatternError(
      `invalid RE2 pattern: ${String((error as Error).message)
        .split('\n')[0]!
        .slice(0, 200)}`,
    );
  }
  const programSize = re.programSize();
  if (programSize > MAX_PATTERN_PROGRAM_SIZE)
    throw new PatternError(`the pattern compiles to ${programSize} RE2 instructions, over the limit of ${MAX_PATTERN_PROGRAM_SIZE}`);
  const pattern_: CompiledPattern = { programSize, test: (input) => re.test(input) };
  compiled.set(pattern, pattern_);
  return pattern_;
}

/** A pattern compiled before (at policy compilation); undefined otherwise. */
export function compiledPattern(pattern: string): CompiledPattern | undefined {
  return compiled.get(pattern);
}
