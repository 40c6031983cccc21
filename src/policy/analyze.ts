/**
 * Static analysis of a parsed CEL expression (the AST of @marcbachmann/cel-js), done once at start:
 * - which provider lookups it reads (`github.orgs`...), so they are fetched only when needed;
 * - which top-level `claims` keys it reads, so only those are converted per call (or all of them when
 *   `claims` is used as a whole: `claims[account.id]`, `size(claims)`, `claims.exists(...)`);
 * - the `matches()` calls: the pattern must be a string literal, compiled here once with RE2 (src/policy/regex.ts);
 *   the calls written as methods (`s.matches(p)`) are reported so that compile.ts routes them to RE2;
 * - a worst-case cost, from the input bounds, that must stay under `maxCost`.
 *
 * Cost model. A unit is one interpreted step: a node evaluated, a comprehension iteration. Native bulk
 * work is cheaper: 8 list elements copied, compared or created per unit, 64 characters scanned or copied
 * per unit (but 2 for `size()` of a string, which the library counts code point by code point). Measured
 * on this machine's kind, a unit is 15 to 30 ns, so the default limit of 100 000 bounds one expression to a
 * few milliseconds on inputs at every cap (real identities cost microseconds). A comprehension (all, exists, exists_one, map, filter) costs its body times the bound on its
 * range's length. Bounds come from the input caps: claims lists and maps have at most `maxListItems`
 * entries, `maxNodes` values in all, strings at most `maxStringLength` characters; lookups are lists of
 * at most `maxListItems` strings of at most `maxLookupStringLength`. Values computed inside the expression
 * are bounded from those: `split` makes at most length+1 parts, `+` adds lengths, `join` multiplies them.
 */
import { compilePattern, MAX_MATCH_INPUT_LENGTH, PatternError } from './regex.ts';
import type { LookupName } from './types.ts';

/** What the analysis needs to know about the inputs. */
export interface AnalysisBounds {
  readonly maxListItems: number;
  readonly maxStringLength: number;
  readonly maxNodes: number;
  readonly maxLookupStringLength: number;
}

interface AnalysisIssue {
  /** Offset of the offending node in the expression. */
  readonly offset: number;
  readonly message: string;
}

/** A method-style `receiver.matches('pattern')` call: compile.ts evaluates it as the RE2 `matches(receiver, pattern)`. */
export interface MatchesMethodCall {
  readonly node: unknown;
  readonly receiver: unknown;
  readonly pattern: unknown;
}

export interface Analysis {
  readonly needs: ReadonlySet<LookupName>;
  readonly claimKeys: ReadonlySet<string> | 'all';
  readonly cost: number;
  readonly issues: readonly AnalysisIssue[];
  readonly matchesMethods: readonly MatchesMethodCall[];
  /** `matches()` calls of either form. */
  readonly matchesCalls: number;
}

/** The AST as the library builds it (lib/index.d.ts `ASTNode`), typed loosely: every shape is checked. */
interface Node {
  readonly op: string;
  readonly args: unknown;
  readonly range?: { readonly start: number; readonly end: number };
  readonly pos?: number;
}

/** Bounds on a value and the cost of computing it. */
interface Est {
  readonly cost: number;
  /** Entries, as a list or map (0: a scalar). */
  readonly len: number;
  /** Entries of any list or map nested in it. */
  readonly inner: number;
  /** Values in it, all levels together (what a deep comparison may visit). */
  readonly size: number;
  /** Characters of any string in it. */
  readonly str: number;
}

interface Scope {
  readonly name: string;
  readonly est: Est;
  readonly parent: Scope | undefined;
}

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const ARITHMETIC = new Set(['-', '*', '/', '%']);
const LOOKUP_ROOTS = { github: ['github.orgs', 'github.teams'], gitlab: ['gitlab.groups'] } as const satisfies Record<
  string,
  readonly LookupName[]
>;
const MATCHES_LITERAL_ONLY =
  'matches() takes a string literal as its pattern (patterns are compiled with RE2 at start; a pattern computed from the input is refused)';
/**
 * Instruction-characters of RE2 matching per cost unit: measured on re2js, the worst case (NFA) is about
 * 1.6 ns per instruction and input character, a unit 15 to 30 ns.
 */
const MATCH_STEPS_PER_UNIT = 16;
/** Fixed cost of one `matches()` call (about 400 ns measured). */
const MATCH_CALL_UNITS = 16;

const chars = (n: number) => Math.ceil(n / 64);
const elems = (n: number) => Math.ceil(n / 8);
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && typeof (v as { op?: unknown }).op === 'string';
const offsetOf = (n: Node): number => n.range?.start ?? n.pos ?? 0;
const sum = (ests: readonly Est[], f: (e: Est) => number) => ests.reduce((a, e) => a + f(e), 0);
const max = (ests: readonly Est[], f: (e: Est) => number, floor = 0) => ests.reduce((a, e) => Math.max(a, f(e)), floor);
const UNIT: Est = { cost: 1, len: 0, inner: 0, size: 1, str: 1 };
/** An element (entry, field) of a value. */
const elementOf = (o: Est, cost: number): Est => ({ cost, len: o.inner, inner: o.inner, size: o.size, str: o.str });

export function analyzeExpression(ast: unknown, lookups: ReadonlySet<LookupName>, bounds: AnalysisBounds): Analysis {
  const needs = new Set<LookupName>();
  const claimKeys = new Set<string>();
  let allClaims = false;
  const issues: AnalysisIssue[] = [];
  const matchesMethods: MatchesMethodCall[] = [];
  let matchesCalls = 0;
  const L = bounds.maxListItems;
  const free: Record<string, Est> = {
    claims: { cost: 1, len: L, inner: L, size: bounds.maxNodes, str: bounds.maxStringLength },
    account: { cost: 1, len: 2, inner: 0, size: 3, str: bounds.maxStringLength },
    caller: { cost: 1, len: 7, inner: 0, size: 8, str: bounds.maxStringLength },
    actor: { cost: 1, len: 5, inner: 0, size: 6, str: bounds.maxStringLength },
    subject: { cost: 1, len: 2, inner: L, size: L + 3, str: bounds.maxLookupStringLength },
    github: { cost: 1, len: 2, inner: L, size: 2 * L + 1, str: bounds.maxLookupStringLength },
    gitlab: { cost: 1, len: 1, inner: L, size: L + 1, str: bounds.maxLookupStringLength },
  };
  /** `github.orgs` and the like: lists of short strings. */
  const lookupList: Est = { cost: 2, len: L, inner: 0, size: L + 1, str: bounds.maxLookupStringLength };

  const lookup = (scope: Scope | undefined, name: string): Est | undefined => {
    for (let s = scope; s; s = s.parent) if (s.name === name) return s.est;
    return undefined;
  };
  const isFree = (node: unknown, name: string, scope: Scope | undefined) =>
    isNode(node) && node.op === 'id' && node.args === name && !lookup(scope, name);
  const issue = (offset: number, message: string) => issues.push({ offset, message });

  /** `github` or `gitlab` used whole: every lookup of that root is needed. */
  const useLookupRoot = (node: Node, root: keyof typeof LOOKUP_ROOTS) => {
    const available = LOOKUP_ROOTS[root].filter((l) => lookups.has(l));
    if (available.length === 0) issue(offsetOf(node), `\`${root}\` lookups are not available for this provider${availableText(lookups)}`);
    for (const l of available) needs.add(l);
  };

  const visitAll = (nodes: unknown, scope: Scope | undefined): Est[] =>
    Array.isArray(nodes) ? nodes.map((n) => visit(n, scope)) : [visit(nodes, scope)];

  function visit(raw: unknown, scope: Scope | undefined): Est {
    if (!isNode(raw)) {
      issue(0, 'unsupported expression');
      return UNIT;
    }
    const node = raw;
    const args = node.args;
    switch (node.op) {
      case 'value': {
        const length = typeof args === 'string' || args instanceof Uint8Array ? args.length : 1;
        return { ...UNIT, str: Math.max(1, length) };
      }
      case 'id': {
        const name = String(args);
        const bound = lookup(scope, name);
        if (bound) return { ...bound, cost: 1 };
        if (name === 'claims') allClaims = true;
        else if (name === 'github' || name === 'gitlab') useLookupRoot(node, name);
        return free[name] ?? UNIT;
      }
      case '.':
      case '.?': {
        const [operand, field] = args as [unknown, unknown];
        if (typeof field === 'string') {
          if (isFree(operand, 'claims', scope)) {
            claimKeys.add(field);
            return elementOf(free.claims!, 2);
          }
          for (const root of ['github', 'gitlab'] as const) {
            if (!isFree(operand, root, scope)) continue;
            const name = `${root}.${field}`;
            if (!(LOOKUP_ROOTS[root] as readonly string[]).includes(name) || !lookups.has(name as LookupName)) {
              issue(offsetOf(node), `\`${name}\` is not available for this provider${availableText(lookups)}`);
            } else needs.add(name as LookupName);
            return lookupList;
          }
        }
        const o = visit(operand, scope);
        return elementOf(o, 1 + o.cost);
      }
      case '[]':
      case '[?]': {
        const [operand, index] = args as [unknown, unknown];
        if (isFree(operand, 'claims', scope) && isNode(index) && index.op === 'value' && typeof index.args === 'string') {
          claimKeys.add(index.args);
          return elementOf(free.claims!, 3);
        }
        const [o, i] = visitAll([operand, index], scope) as [Est, Est];
        return elementOf(o, 1 + o.cost + i.cost);
      }
      case 'list':
      case 'map': {
        const items = node.op === 'map' && Array.isArray(args) ? args.flatMap((entry) => visitAll(entry, scope)) : visitAll(args, scope);
        const len = node.op === 'map' ? Math.ceil(items.length / 2) : items.length;
        return {
          cost: 1 + sum(items, (e) => e.cost) + elems(items.length),
          len,
          inner: max(items, (e) => Math.max(e.len, e.inner)),
          size: 1 + sum(items, (e) => e.size),
          str: max(items, (e) => e.str, 1),
        };
      }
      case '?:': {
        const [c, a, b] = visitAll(args, scope) as [Est, Est, Est];
        return {
          cost: 1 + c.cost + a.cost + b.cost,
          len: Math.max(a.len, b.len),
          inner: Math.max(a.inner, b.inner),
          size: Math.max(a.size, b.size),
          str: Math.max(a.str, b.str),
        };
      }
      case '&&':
      case '||':
      case '!_':
      case '-_':
        return { ...UNIT, cost: 1 + sum(visitAll(args, scope), (e) => e.cost) };
      case '+': {
        const [a, b] = visitAll(args, scope) as [Est, Est];
        const len = a.len + b.len;
        const str = a.str + b.str;
        return { cost: 1 + a.cost + b.cost + elems(len) + chars(str), len, inner: Math.max(a.inner, b.inner), size: a.size + b.size, str };
      }
      case 'in': {
        const [a, b] = visitAll(args, scope) as [Est, Est];
        return {
          ...UNIT,
          cost: 1 + a.cost + b.cost + elems(b.len) * (1 + chars(Math.min(a.str, b.str))) + elems(Math.min(a.size, b.size)) + chars(b.str),
        };
      }
      case 'call':
      case 'rcall':
        return visitCall(node, scope);
      default: {
        if (COMPARISONS.has(node.op)) {
          const [a, b] = visitAll(args, scope) as [Est, Est];
          return { ...UNIT, cost: 1 + a.cost + b.cost + elems(Math.min(a.size, b.size)) * (1 + chars(Math.min(a.str, b.str))) };
        }
        if (ARITHMETIC.has(node.op)) return { ...UNIT, cost: 1 + sum(visitAll(args, scope), (e) => e.cost) };
        issue(offsetOf(node), `unsupported expression (${node.op})`);
        return UNIT;
      }
    }
  }

  function visitCall(node: Node, scope: Scope | undefined): Est {
    const receiverCall = node.op === 'rcall';
    const parts = node.args as unknown[];
    const name = parts[0];
    const receiver = receiverCall ? parts[1] : undefined;
    const rawArgs = receiverCall ? parts[2] : parts[1];
    const callArgs: unknown[] = Array.isArray(rawArgs) ? rawArgs : [];
    let programSize = 0;
    if (name === 'matches') {
      matchesCalls++;
      const pattern = callArgs[receiverCall ? 0 : 1];
      const at = isNode(pattern)
        ? offsetOf(pattern)
        : receiverCall && isNode(receiver)
          ? (receiver.range?.end ?? offsetOf(node))
          : offsetOf(node);
      if (!isNode(pattern) || pattern.op !== 'value' || typeof pattern.args !== 'string') issue(at, MATCHES_LITERAL_ONLY);
      else {
        try {
          programSize = compilePattern(pattern.args).programSize;
        } catch (error) {
          if (!(error instanceof PatternError)) throw error;
          issue(at, error.message);
        }
        if (receiverCall && callArgs.length === 1) matchesMethods.push({ node, receiver, pattern });
      }
    }

    const first = callArgs[0];
    const variable = isNode(first) && first.op === 'id' ? String(first.args) : undefined;
    if (receiverCall && typeof name === 'string' && COMPREHENSIONS.has(name) && callArgs.length >= 2 && variable !== undefined) {
      const range = visit(receiver, scope);
      const body = visitAll(callArgs.slice(1), { name: variable, est: elementOf(range, 1), parent: scope });
      const cost = 1 + range.cost + range.len * (1 + sum(body, (e) => e.cost));
      const out = body.at(-1)!;
      if (name === 'map')
        return { cost, len: range.len, inner: Math.max(out.len, out.inner), size: 1 + range.len * out.size, str: out.str };
      if (name === 'filter') return { ...range, cost };
      return { ...UNIT, cost };
    }
    if (receiverCall && name === 'bind' && isFree(receiver, 'cel', scope) && callArgs.length === 3 && variable !== undefined) {
      const value = visit(callArgs[1], scope);
      const body = visit(callArgs[2], { name: variable, est: value, parent: scope });
      return { ...body, cost: 1 + value.cost + body.cost };
    }

    const all = receiverCall ? [visit(receiver, scope), ...visitAll(callArgs, scope)] : visitAll(callArgs, scope);
    const recv = all[0] ?? UNIT;
    const base = 1 + sum(all, (e) => e.cost + chars(e.str));
    if (name === 'split') return { cost: base + elems(recv.str + 1), len: recv.str + 1, inner: 0, size: recv.str + 2, str: recv.str };
    if (name === 'join') {
      const str = recv.len * (recv.str + max(all.slice(1), (e) => e.str));
      return { ...UNIT, cost: base + elems(recv.len) + chars(str), str };
    }
    // The library counts a string's code points one by one.
    if (name === 'size') return { ...UNIT, cost: base + Math.ceil(recv.str / 2) };
    if (name === 'json') return { cost: base + recv.str, len: recv.str, inner: recv.str, size: recv.str, str: recv.str };
    if (name === 'matches') {
      // The string matched: the receiver of `s.matches(p)`, the first argument of `matches(s, p)` (both are all[0]).
      const input = Math.min(recv.str, MAX_MATCH_INPUT_LENGTH);
      return { ...UNIT, cost: base + MATCH_CALL_UNITS + Math.ceil((programSize * input) / MATCH_STEPS_PER_UNIT) };
    }
    return {
      cost: base,
      len: max(all, (e) => e.len),
      inner: max(all, (e) => e.inner),
      size: max(all, (e) => e.size, 1),
      str: max(all, (e) => e.str, 1),
    };
  }

  const root = visit(ast, undefined);
  return { needs, claimKeys: allClaims ? 'all' : claimKeys, cost: root.cost, issues, matchesMethods, matchesCalls };
}

function availableText(lookups: ReadonlySet<LookupName>): string {
  return lookups.size ? ` (available: ${[...lookups].sort().join(', ')})` : ' (it has no lookups)';
}
