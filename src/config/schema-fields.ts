/**
 * Field types shared by the sections of the configuration schema (src/config/schema.ts and the
 * sections it composes): durations, URLs, JWS algorithm lists.
 */
import { z } from 'zod';
import { parseDuration } from './duration.ts';

/** Duration field: `15m`, `30s`, `1h`, `250ms` or a number of seconds; parsed to milliseconds. */
export const duration = (bounds: { min?: number; max?: number } = {}) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      // The value is not echoed: a misplaced secret must not reach an error message.
      ctx.addIssue({ code: 'custom', message: 'is not a duration (use e.g. 30s, 15m, 1h)' });
      return z.NEVER;
    }
    if (bounds.min !== undefined && ms < bounds.min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${bounds.min}ms` });
      return z.NEVER;
    }
    if (bounds.max !== undefined && ms > bounds.max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${bounds.max}ms` });
      return z.NEVER;
    }
    return ms;
  });

/** An absolute URL (the URL policy of src/config/url-policy.ts is applied where it is used). */
export const url = z.string().refine((v) => URL.canParse(v), { message: 'must be an absolute URL' });

/** Asymmetric JWS algorithms a provider may sign with (RFC 8725 §2.1: never symmetric, never `none`). */
export const ASYMMETRIC_JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** An OAuth scope value (RFC 6749 §3.3 scope-token: visible ASCII except `"` and `\`), at most 256 characters. */
export const scopeToken = z
  .string()
  .max(256)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be an OAuth scope-token (RFC 6749 §3.3: visible ASCII without space, " or \\)');

/** A CEL expression (docs/policy.md); compiled and type-checked at start. */
export const celExpression = z.string().max(2048, 'must be at most 2048 characters').regex(/\S/, 'must be a non-empty CEL expression');

/** One `allow` rule: an expression, or a named one (the name shows in ErrorInfo `rule` and in logs). */
export const allowRule = z.union([
  celExpression,
  z.strictObject({
    /** Shown in ErrorInfo metadata `rule` and in logs when the rule denies. Default `allow[<index>]`. */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 characters of A-Z a-z 0-9 _ . : -')
      .optional(),
    expression: celExpression,
  }),
]);
