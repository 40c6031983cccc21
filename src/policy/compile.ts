/**
 * Compiles a provider's policy (allow rules and computed claims, in CEL) once at start: parse, static
 * analysis (lookups needed, claims read, cost bound), type check against the declared variables; then
 * evaluates it per call, bounded and failing closed.
 *
 * CEL variables:
 * - `claims`  map(string, dyn): the provider's verified data as returned. JSON numbers are doubles.
 * - `account` {provider: string, id: string}
 * - `caller`  {kind, id, subject, issuer, spiffeId, namespace, serviceAccount: string}: who asks (the token
 *   endpoint's authenticated client; kind `none` at GetJWT, the edge doors and without client authentication)
 * - `actor`   {kind, sub, iss, provider, clientId: string}: who will act for the subject (RFC 8693; kind `none`
 *   when no one does)
 * - `subject` {scopes: list(string), scopesKnown: bool}: the subject token's OAuth scopes as its provider
 *   vouched for them (issue 22; docs/strategies.md); `scopesKnown` false (and `scopes` empty) when they
 *   cannot be determined
 * - `github`  {orgs: list(string), teams: list(string)} and `gitlab` {groups: list(string)}: declared only
 *   with the lookups the provider has, and fetched only when an expression reads them.
 *
 * `matches()` runs on RE2 (src/policy/regex.ts), never on the library's own `string.matches`, which uses
 * JavaScript's backtracking RegExp: the global `matches(string, string)` is ours, and every method-style
 * `s.matches(p)` is evaluated as `matches(s, p)` (see {@link routeMatchesToRe2}).
 */
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { ConfigError } from '../errors.ts';
import { RESERVED_CLAIM_NAMES, sanitizeClaimValue } from '../exchange/claims.ts';
import { ANONYMOUS_CALLER, LOOKUP_SCOPES, NO_ACTOR } from '../exchange/ports.ts';
import { analyzeExpression, type Analysis, type MatchesMethodCall } from './analyze.ts';
import { compiledPattern, MAX_MATCH_INPUT_LENGTH } from './regex.ts';
import type {
  AllowRule,
  CompileOptions,
  CompiledPolicy,
  EvaluationInput,
  LookupName,
  PolicyDecision,
  PolicyLimits,
  PolicySource,
} from './types.ts';
import { InputError, JsonToCel, type InputLimits } from './values.ts';

/** A policy that cannot be compiled; one issue per offending field, each message starting with `line:column`. */
export class PolicyCompileError extends ConfigError {
  constructor(issues: readonly { path: string; message: string }[]) {
    super(issues);
    this.name = 'PolicyCompileError';
  }
}

const DEFAULT_POLICY_LIMITS: Required<PolicyLimits> = {
  maxExpressionLength: 2048,
  maxCost: 100_000,
  maxListItems: 1000,
  maxStringLength: 4096,
  maxDepth: 32,
};
/** Values converted from `claims` per call, all keys together: this many times `maxListItems`. */
const NODES_PER_LIST_ITEM = 20;
/** Lookup values are logins, slugs and group paths: short. */
const MAX_LOOKUP_STRING_LENGTH = 256;
const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;
const RULE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Static types a computed claim may have: those that can sanitize to a claim value. */
const CLAIM_TYPES = new Set(['string', 'bool', 'int', 'double', 'dyn', 'list', 'list<string>', 'list<dyn>']);
const ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;

class AccountValue {
  readonly provider: string;
  readonly id: string;
  constructor(provider: string, id: string) {
    this.provider = provider;
    this.id = id;
  }
}
class CallerValue {
  readonly kind: string;
  readonly id: string;
  readonly subject: string;
  readonly issuer: string;
  readonly spiffeId: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  constructor(fields: Record<(typeof CALLER_FIELDS)[number], string>) {
    this.kind = fields.kind;
    this.id = fields.id;
    this.subject = fields.subject;
    this.issuer = fields.issuer;
    this.spiffeId = fields.spiffeId;
    this.namespace = fields.namespace;
    this.serviceAccount = fields.serviceAccount;
  }
}
class ActorValue {
  readonly kind: string;
  readonly sub: string;
  readonly iss: string;
  readonly provider: string;
  readonly clientId: string;
  constructor(fields: Record<(typeof ACTOR_FIELDS)[number], string>) {
    this.kind = fields.kind;
    this.sub = fields.sub;
    this.iss = fields.iss;
    this.provider = fields.provider;
    this.clientId = fields.clientId;
  }
}
const CALLER_FIELDS = ['kind', 'id', 'subject', 'issuer', 'spiffeId', 'namespace', 'serviceAccount'] as const;
const ACTOR_FIELDS = ['kind', 'sub', 'iss', 'provider', 'clientId'] as const;
const stringFields = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, 'string']));

/** The subject token as policy sees it beyond its claims (issue 22). */
class SubjectValue {
  readonly scopes: string[];
  readonly scopesKnown: boolean;
  constructor(scopes: string[], scopesKnown: boolean) {
    this.scopes = scopes;
    this.scopesKnown = scopesKnown;
  }
}

class GitHubLookups {
  orgs?: string[];
  teams?: string[];
}
class GitLabLookups {
  groups?: string[];
}

/** A `matches()` failure with a fixed code (the policy reports codes, never messages). */
class MatchesError extends Error {
  readonly code: string;
  constructor(code: 'input_limit' | 'pattern_not_compiled') {
    super(code);
    this.code = code;
  }
}

/** CEL `matches(string, string): bool` on RE2. The pattern was compiled when the policy was (a string literal). */
function re2Matches(input: string, pattern: string): boolean {
  const compiled = compiledPattern(pattern);
  if (!compiled) throw new MatchesError('pattern_not_compiled');
  if (input.length > MAX_MATCH_INPUT_LENGTH) throw new MatchesError('input_limit');
  return compiled.test(input);
}

const environments = new Map<string, Environment>();

/** One CEL environment per set of available lookups (building one is costly; they are immutable once built). */
function environmentFor(lookups: ReadonlySet<LookupName>): Environment {
  const key = [...lookups].sort().join(',');
  let env = environments.get(key);
  if (env) return env;
  env = new Environment({
    enableOptionalTypes: true,
    limits: { maxAstNodes: 2048, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 16 },
  })
    .registerType('authjwt.Account', { ctor: AccountValue, fields: { provider: 'string', id: 'string' } })
    .registerVariable('claims', 'map<string, dyn>', { description: "The provider's verified data as returned" })
    .registerVariable('account', 'authjwt.Account', { description: 'The proven account: provider id and account id' })
    .registerType('authjwt.Caller', { ctor: CallerValue, fields: stringFields(CALLER_FIELDS) })
    .registerVariable('caller', 'authjwt.Caller', { description: 'Who asks for the exchange (token endpoint client authentication)' })
    .registerType('authjwt.Actor', { ctor: ActorValue, fields: stringFields(ACTOR_FIELDS) })
    .registerVariable('actor', 'authjwt.Actor', { description: 'Who will act for the subject (RFC 8693 delegation)' })
    .registerType('authjwt.Subject', { ctor: SubjectValue, fields: { scopes: 'list<string>', scopesKnown: 'bool' } })
    .registerVariable('subject', 'authjwt.Subject', { description: "The subject token's scopes, as its provider vouched for them" })
    .registerFunction('matches(string, string): bool', re2Matches);
  const github = Object.fromEntries(
    ['orgs', 'teams'].filter((f) => lookups.has(`github.${f}` as LookupName)).map((f) => [f, 'list<string>']),
  );
  if (Object.keys(github).length) {
    env.registerType('authjwt.GitHubLookups', { ctor: GitHubLookups, fields: github }).registerVariable('github', 'authjwt.GitHubLookups');
  }
  if (lookups.has('gitlab.groups')) {
    env
      .registerType('authjwt.GitLabLookups', { ctor: GitLabLookups, fields: { groups: 'list<string>' } })
      .registerVariable('gitlab', 'authjwt.GitLabLookups');
  }
  environments.set(key, env);
  return env;
}

interface Compiled {
  readonly name: string;
  readonly run: ParseResult;
  readonly analysis: Analysis;
}

type Issue = { path: string; message: string };

/**
 * Compiles a provider's policy. Throws {@link PolicyCompileError} listing every problem: syntax and type
 * errors, an `allow` that is not bool, a claim whose type cannot be put in a token, a reserved claim name,
 * a lookup this provider does not have, a `matches()` pattern that is not a valid RE2 string literal within
 * the size bounds, an expression over the length or cost limit.
 */
export function compilePolicy(source: PolicySource, options: CompileOptions): CompiledPolicy {
  const limits = { ...DEFAULT_POLICY_LIMITS, ...definedOnly(options.limits ?? {}) };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`policy limit ${key} must be a positive integer`);
  }
  for (const lookup of options.lookups) if (!Object.hasOwn(LOOKUP_SCOPES, lookup)) throw new TypeError(`unknown lookup ${String(lookup)}`);
  const lookups: ReadonlySet<LookupName> = new Set(options.lookups);
  const env = environmentFor(lookups);
  const inputLimits: InputLimits = {
    maxListItems: limits.maxListItems,
    maxStringLength: limits.maxStringLength,
    maxDepth: limits.maxDepth,
    maxNodes: limits.maxListItems * NODES_PER_LIST_ITEM,
  };
  const issues: Issue[] = [];
  const path = options.path;

  const compile = (text: unknown, at: string, name: string, kind: 'allow' | 'claim'): Compiled | undefined => {
    const fail = (message: string) => void issues.push({ path: at, message });
    if (typeof text !== 'string' || text.trim() === '') return fail('must be a non-empty CEL expression');
    if (text.length > limits.maxExpressionLength) {
      return fail(`is ${text.length} characters long, over the limit of ${limits.maxExpressionLength}`);
    }
    let run: ParseResult;
    try {
      run = env.parse(text);
    } catch (error) {
      return fail(`${position(text, rangeStart(error))}: ${summaryOf(error)}`);
    }
    const analysis = analyzeExpression(run.ast, lookups, {
      maxListItems: limits.maxListItems,
      maxStringLength: limits.maxStringLength,
      maxNodes: inputLimits.maxNodes,
      maxLookupStringLength: MAX_LOOKUP_STRING_LENGTH,
    });
    if (analysis.issues.length) {
      for (const i of analysis.issues) fail(`${position(text, i.offset)}: ${i.message}`);
      return undefined;
    }
    if (!(analysis.cost <= limits.maxCost)) {
      return fail(
        `1:1: worst-case cost ${analysis.cost} is over the limit of ${limits.maxCost} ` +
          (analysis.matchesCalls > 0
            ? '(matches() costs its pattern size times the input length: over every item of a provider list, use startsWith, endsWith or contains)'
            : '(a comprehension nested in another over provider lists, or values grown in a loop?)'),
      );
    }
    routeMatchesToRe2(env, analysis.matchesMethods);
    const checked = run.check();
    if (!checked.valid) return fail(`${position(text, rangeStart(checked.error))}: ${summaryOf(checked.error)}`);
    if (kind === 'allow' && checked.type !== 'bool') {
      const hint = checked.type === 'dyn' ? ' (compare a value of `claims`: `claims.email_verified == true`)' : '';
      return fail(`1:1: must be a bool expression, not ${checked.type}${hint}`);
    }
    if (kind === 'claim' && !CLAIM_TYPES.has(checked.type ?? '')) {
      return fail(
        `1:1: a claim cannot hold a value of type ${checked.type} (string, bool, int, double or list of strings; use .orValue() on optionals)`,
      );
    }
    return { name, run, analysis };
  };

  const rules: Compiled[] = [];
  const allow = source.allow;
  if (typeof allow === 'string') {
    const c = compile(allow, `${path}.allow`, 'allow[0]', 'allow');
    if (c) rules.push(c);
  } else if (Array.isArray(allow)) {
    const names = new Set<string>();
    (allow as readonly unknown[]).forEach((item, i) => {
      const at = `${path}.allow[${i}]`;
      let name = `allow[${i}]`;
      let expression: unknown = item;
      if (typeof item === 'object' && item !== null) {
        const rule = item as Partial<AllowRule>;
        expression = rule.expression;
        if (rule.name !== undefined) {
          if (typeof rule.name !== 'string' || !RULE_NAME.test(rule.name)) {
            issues.push({ path: `${at}.name`, message: 'must be 1 to 64 characters of A-Z a-z 0-9 _ . : -' });
          } else if (names.has(rule.name)) {
            issues.push({ path: `${at}.name`, message: `duplicates the name of another rule: ${rule.name}` });
          } else name = rule.name;
        }
      }
      names.add(name);
      const c = compile(expression, at, name, 'allow');
      if (c) rules.push(c);
    });
  } else if (allow !== undefined) {
    issues.push({ path: `${path}.allow`, message: 'must be a CEL expression or a list of them' });
  }

  const claims: Compiled[] = [];
  const claimSource: unknown = source.claims;
  if (typeof claimSource === 'object' && claimSource !== null && !Array.isArray(claimSource)) {
    if (Object.hasOwn(claimSource, '__proto__'))
      issues.push({ path: `${path}.claims.__proto__`, message: 'is reserved and cannot be computed' });
    for (const [name, expression] of Object.entries(claimSource)) {
      const at = `${path}.claims.${name}`;
      if (!CLAIM_NAME.test(name))
        issues.push({ path: at, message: 'must be a claim name (a letter or _, then up to 63 of A-Z a-z 0-9 _ . : -)' });
      else if (RESERVED_CLAIM_NAMES.has(name)) issues.push({ path: at, message: 'is reserved and cannot be computed' });
      const c = compile(expression, at, name, 'claim');
      if (c) claims.push(c);
    }
  } else if (claimSource !== undefined) {
    issues.push({ path: `${path}.claims`, message: 'must map claim names to CEL expressions' });
  }

  if (issues.length) throw new PolicyCompileError(issues);
  return new Policy(rules, claims, inputLimits);
}

class Policy implements CompiledPolicy {
  readonly needs: ReadonlySet<LookupName>;
  readonly rules: readonly { name: string }[];
  readonly claimNames: readonly string[];
  readonly #rules: readonly Compiled[];
  readonly #claims: readonly Compiled[];
  readonly #claimKeys: ReadonlySet<string> | 'all';
  readonly #limits: InputLimits;
  readonly #lookupLimits: InputLimits;
  /** Named when the input itself cannot be used (no expression ran yet). */
  readonly #first: string;

  constructor(rules: readonly Compiled[], claims: readonly Compiled[], limits: InputLimits) {
    const all = [...rules, ...claims];
    this.needs = new Set(all.flatMap((c) => [...c.analysis.needs]));
    const keys = all.map((c) => c.analysis.claimKeys);
    this.#claimKeys = keys.includes('all') ? 'all' : new Set(keys.flatMap((k) => [...k]));
    this.rules = rules.map((r) => Object.freeze({ name: r.name }));
    this.claimNames = claims.map((c) => c.name);
    this.#rules = rules;
    this.#claims = claims;
    this.#limits = limits;
    this.#lookupLimits = { ...limits, maxStringLength: Math.min(limits.maxStringLength, MAX_LOOKUP_STRING_LENGTH) };
    this.#first = rules[0]?.name ?? (claims[0] ? `claims.${claims[0].name}` : 'allow');
    Object.freeze(this.rules);
    Object.freeze(this.claimNames);
  }

  evaluate(input: EvaluationInput): PolicyDecision {
    try {
      return this.#evaluate(input);
    } catch {
      return { allowed: false, rule: this.#first, reason: 'error', detail: 'internal' };
    }
  }

  #evaluate(input: EvaluationInput): PolicyDecision {
    if (this.#rules.length === 0 && this.#claims.length === 0) return { allowed: true, claims: Object.create(null) };
    let context: Record<string, unknown>;
    try {
      context = this.#context(input);
    } catch (error) {
      const rule = error instanceof LookupMissing ? this.#firstNeeding(error.lookup) : this.#first;
      return { allowed: false, rule, reason: 'error', detail: error instanceof InputError ? codeOf(error) : 'input_invalid' };
    }
    for (const rule of this.#rules) {
      let result: unknown;
      try {
        result = rule.run(context);
      } catch (error) {
        return { allowed: false, rule: rule.name, reason: 'error', detail: codeOf(error) };
      }
      if (result === false) return { allowed: false, rule: rule.name, reason: 'denied' };
      if (result !== true) return { allowed: false, rule: rule.name, reason: 'error', detail: 'not_bool' };
    }
    const claims: Record<string, unknown> = Object.create(null);
    for (const claim of this.#claims) {
      let result: unknown;
      try {
        result = claim.run(context);
      } catch (error) {
        const code = codeOf(error);
        // Data this user does not have (a key absent from the provider's answer): the claim is omitted.
        if (code === 'no_such_key') continue;
        return { allowed: false, rule: `claims.${claim.name}`, reason: 'error', detail: code };
      }
      const value = sanitizeClaimValue(result);
      if (value !== undefined) claims[claim.name] = value;
    }
    return { allowed: true, claims };
  }

  #firstNeeding(lookup: LookupName): string {
    const rule = this.#rules.find((r) => r.analysis.needs.has(lookup));
    if (rule) return rule.name;
    const claim = this.#claims.find((c) => c.analysis.needs.has(lookup));
    return claim ? `claims.${claim.name}` : this.#first;
  }

  #context(input: EvaluationInput): Record<string, unknown> {
    const convert = new JsonToCel(this.#limits);
    const context: Record<string, unknown> = {
      claims: convert.claims(input.claims, this.#claimKeys),
      account: new AccountValue(convert.string(input.account?.provider), convert.string(input.account?.id)),
      caller: new CallerValue(stringsOf(convert, CALLER_FIELDS, input.caller ?? ANONYMOUS_CALLER)),
      actor: new ActorValue(stringsOf(convert, ACTOR_FIELDS, input.actor ?? NO_ACTOR)),
      // Scope-tokens are short (≤ 256): bounded like lookup strings.
      subject: new SubjectValue(new JsonToCel(this.#lookupLimits).stringList(input.scopes ?? []), input.scopes !== undefined),
    };
    if (this.needs.size === 0) return context;
    const lists = new JsonToCel(this.#lookupLimits);
    const fetched = (name: LookupName): string[] => {
      const value = input.lookups?.[name];
      if (value === undefined) throw new LookupMissing(name);
      return lists.stringList(value);
    };
    if (this.needs.has('github.orgs') || this.needs.has('github.teams')) {
      const github = new GitHubLookups();
      if (this.needs.has('github.orgs')) github.orgs = fetched('github.orgs');
      if (this.needs.has('github.teams')) github.teams = fetched('github.teams');
      context.github = github;
    }
    if (this.needs.has('gitlab.groups')) {
      const gitlab = new GitLabLookups();
      gitlab.groups = fetched('gitlab.groups');
      context.gitlab = gitlab;
    }
    return context;
  }
}

/** The library's AST node, as far as routing a call needs it (lib/parser.js `ASTNode`; checked at run time). */
interface CallNode {
  readonly meta: { check: unknown; evaluate: unknown };
  clone(op: { name: string; check: unknown; evaluate: unknown }, args: unknown): CallNode;
  setMeta(key: 'alternate', value: CallNode): CallNode;
}
const isCallNode = (v: unknown): v is CallNode =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Partial<CallNode>).clone === 'function' &&
  typeof (v as Partial<CallNode>).setMeta === 'function' &&
  typeof (v as Partial<CallNode>).meta?.check === 'function';

/**
 * Makes each method-style `s.matches(p)` evaluate (and type-check) as our global `matches(s, p)`: the
 * node gets the library's `alternate`, the mechanism its own macros use to stand for another call. The
 * library refuses to replace its built-in `string.matches` overload, so this is how RE2 takes its place.
 * Throws when the library's AST no longer has that shape (an upgrade): start fails rather than fall back.
 */
function routeMatchesToRe2(env: Environment, calls: readonly MatchesMethodCall[]): void {
  if (calls.length === 0) return;
  const probe: unknown = env.parse("matches('', '')").ast;
  if (!isCallNode(probe)) throw new Error('@marcbachmann/cel-js AST has changed: cannot route matches() to RE2');
  const call = { name: 'call', check: probe.meta.check, evaluate: probe.meta.evaluate };
  for (const { node, receiver, pattern } of calls) {
    if (!isCallNode(node)) throw new Error('@marcbachmann/cel-js AST has changed: cannot route matches() to RE2');
    node.setMeta('alternate', node.clone(call, ['matches', [receiver, pattern]]));
  }
}

/** A lookup the policy needs was not given to `evaluate` (a bug of the caller: fetch every one of `needs`). */
class LookupMissing extends InputError {
  readonly lookup: LookupName;
  constructor(lookup: LookupName) {
    super('input_invalid');
    this.lookup = lookup;
  }
}

/** The named string fields of a caller or actor, each bounded like any other input string. */
function stringsOf<const K extends string>(convert: JsonToCel, names: readonly K[], source: object): Record<K, string> {
  const out = {} as Record<K, string>;
  for (const name of names) out[name] = convert.string(Object.hasOwn(source, name) ? (source as Record<string, unknown>)[name] : undefined);
  return out;
}

/** A library error's machine-readable code (never its message, which may quote input). */
function codeOf(error: unknown): string {
  if (error instanceof LookupMissing) return 'lookup_missing';
  if (error instanceof InputError) return error.kind;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && ERROR_CODE.test(code) ? code : 'evaluation_error';
}

function rangeStart(error: unknown): number {
  const range = typeof error === 'object' && error !== null ? (error as { range?: { start?: unknown } }).range : undefined;
  return typeof range?.start === 'number' ? range.start : 0;
}

/** The library's one-line summary; its `message` adds a multi-line source excerpt. */
function summaryOf(error: unknown): string {
  const summary = typeof error === 'object' && error !== null ? (error as { summary?: unknown }).summary : undefined;
  const text = typeof summary === 'string' ? summary : error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 200);
}

/** `line:column`, both from 1, of an offset in the expression. */
function position(text: string, offset: number): string {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${line}:${column}`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
