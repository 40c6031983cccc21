import { authJwtError } from '../errors.ts';
import type { ProofStrategy } from '../exchange/ports.ts';

/** RFC 6749 §3.3 scope-token: visible ASCII except `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
/** Values of one `scope` parameter. */
const MAX_SCOPE_VALUES = 64;

/**
 * The requested `scope` parameter as a list of values (RFC 6749 §3.3: space-delimited, case-sensitive).
 * Throws `TXN_SCOPE_INVALID` when it is empty, malformed or too long.
 */
export function parseScope(scope: string): string[] {
  const values = scope.split(' ').filter((v) => v !== '');
  if (values.length === 0 || values.length > MAX_SCOPE_VALUES || scope.length > 4096 || !values.every((v) => SCOPE_TOKEN.test(v)))
    throw authJwtError('TXN_SCOPE_INVALID');
  return [...new Set(values)];
}

/**
 * The scopes of a verified subject token. `scopes` as the verifier determined them; until every
 * strategy sets them (issue 22, i22-subjects), a locally verified JWT's own `scope` (RFC 9068 §2.2.3,
 * RFC 8693 §4.2: a space-delimited string) or `scp` (a list or a string, as Entra ID and Okta send it)
 * claim. `undefined` when it cannot be determined: the caller refuses.
 */
export function subjectScopes(subject: {
  scopes?: readonly string[] | undefined;
  claims: Readonly<Record<string, unknown>>;
  strategy: ProofStrategy | 'txn_token';
}): readonly string[] | undefined {
  if (subject.scopes !== undefined) return subject.scopes;
  if (subject.strategy !== 'jwt') return undefined;
  const own = (name: string) => (Object.hasOwn(subject.claims, name) ? subject.claims[name] : undefined);
  const read = (value: unknown): string[] | undefined => {
    if (typeof value === 'string') return value.split(' ').filter((v) => v !== '');
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
    return undefined;
  };
  return read(own('scope')) ?? read(own('scp'));
}
