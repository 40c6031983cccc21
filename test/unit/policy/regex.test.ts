/**
 * CEL `matches()` runs on RE2 (src/policy/regex.ts), never on JavaScript's RegExp — the library's own
 * `string.matches` builds `new RegExp(pattern)`, which backtracks (ReDoS) and has other semantics. The
 * semantic cases below answer differently on the two engines, so a `matches()` that fell back to the
 * library's RegExp fails them at once: `.` is one code point in RE2 (one UTF-16 unit in RegExp without
 * the `u` flag), `\z` is end of text in RE2 (a literal `z` in RegExp), `(?i)` and `[[:alpha:]]` are RE2
 * syntax (a RegExp syntax error, or a character class of `:alph`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, type PolicyDecision } from '../../../src/policy/index.ts';
import { compilePattern, MAX_MATCH_INPUT_LENGTH, PatternError } from '../../../src/policy/regex.ts';

const evaluate = (expression: string, claims: Record<string, unknown>): PolicyDecision =>
  compilePolicy({ allow: expression }, { path: 'p', lookups: [] }).evaluate({ claims, account: { provider: 'p', id: '1' }, lookups: {} });
const verdict = (d: PolicyDecision) => (d.allowed ? 'allowed' : d.reason === 'denied' ? 'denied' : `error:${d.detail}`);

describe('matches() on RE2', () => {
  // [name, expression, claims, verdict]: negative cases first.
  const cases: [string, string, Record<string, unknown>, string][] = [
    [
      'an input over 512 characters fails closed',
      "claims.s.matches('^a')",
      { s: `a${'b'.repeat(MAX_MATCH_INPUT_LENGTH)}` },
      'error:input_limit',
    ],
    ['a non-string input fails closed', "claims.s.matches('^1$')", { s: 1 }, 'error:no_matching_overload'],
    ['a missing key fails closed', "claims.s.matches('^a')", {}, 'error:no_such_key'],
    ['ReDoS pattern on an evil input: linear, no match', "claims.s.matches('(a+)+$')", { s: `${'a'.repeat(64)}!` }, 'denied'],
    ['\\z is end of text (RegExp: a literal z)', "claims.s.matches('b\\\\z')", { s: 'abz' }, 'denied'],
    ['. is one code point, astral included (RegExp without u: one UTF-16 unit)', "claims.s.matches('^.$')", { s: '😀' }, 'allowed'],
    ['(?i) flag (RegExp: syntax error)', "claims.s.matches('(?i)^system:serviceaccount:')", { s: 'SYSTEM:ServiceAccount:x' }, 'allowed'],
    ['POSIX class (RegExp: a class of its letters)', "claims.s.matches('^[[:alpha:]]+$')", { s: 'abc' }, 'allowed'],
    ['unanchored: a match anywhere (CEL semantics)', "claims.s.matches('serviceaccount')", { s: 'system:serviceaccount:a:b' }, 'allowed'],
    ['anchored pattern, no match', "claims.s.matches('^prod-')", { s: 'staging-prod-x' }, 'denied'],
    [
      'namespace pattern',
      "claims.sub.matches('^system:serviceaccount:(prod|staging)-[a-z0-9-]+:[a-z0-9-]+$')",
      { sub: 'system:serviceaccount:prod-payments:api' },
      'allowed',
    ],
    ['the function form matches(s, p)', "matches(claims.email, '@example\\\\.com$')", { email: 'alice@example.com' }, 'allowed'],
    ['the function form, no match', "matches(claims.email, '@example\\\\.com$')", { email: 'alice@example.com.evil' }, 'denied'],
    ['inside a comprehension over a literal list', "['a-1', 'b-2'].exists(x, x.matches('^b-'))", {}, 'allowed'],
    ['inside a comprehension, no item matches', "['a-1', 'b-2'].exists(x, x.matches('^c-'))", {}, 'denied'],
    ['a pattern used twice in one policy', "claims.s.matches('^x') || claims.t.matches('^x')", { s: 'a', t: 'xy' }, 'allowed'],
  ];
  for (const [name, expression, claims, expected] of cases)
    it(`RE2: ${name}`, () => assert.equal(verdict(evaluate(expression, claims)), expected));

  it('a denial names the rule and never the value or the pattern', () => {
    const decision = evaluate("claims.s.matches('^secret-pattern$')", { s: 'secret-value' });
    assert.deepEqual(JSON.parse(JSON.stringify(decision)), { allowed: false, rule: 'allow[0]', reason: 'denied' });
  });
});

describe('compilePattern', () => {
  it('refuses what RE2 refuses, and oversized patterns, with a PatternError', () => {
    for (const bad of ['(a)\\1', 'a(?=b)', '(?<!a)b', '(', 'a{1001}', 'a'.repeat(513), '[a-z]{600}[0-9]{600}']) {
      assert.throws(() => compilePattern(bad), PatternError, bad.slice(0, 40));
    }
  });
  it('compiles once: the same pattern gives the same compiled object, with its program size', () => {
    const a = compilePattern('^team-[a-z]+$');
    assert.equal(compilePattern('^team-[a-z]+$'), a);
    assert.ok(a.programSize > 0 && a.programSize < 100);
    assert.equal(a.test('team-abc'), true);
    assert.equal(a.test('team-ABC'), false);
  });
});
