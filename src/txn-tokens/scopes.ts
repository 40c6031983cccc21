import { authJwtError } from '../errors.ts';

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
