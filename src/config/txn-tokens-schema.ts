/**
 * Configuration of the Transaction Token Service (issue 22, draft-ietf-oauth-transaction-tokens):
 * the top-level `txnTokens` section, composed into src/config/schema.ts; absent = disabled. Documented
 * in docs/txn-tokens.md and docs/configuration.md.
 */
import { z } from 'zod';
import { allowRule, celExpression, duration } from './schema-fields.ts';

/** Longest Txn-Token lifetime accepted: the draft wants them short-lived ("on the order of minutes or less"). */
const MAX_TXN_TOKEN_TTL = 15 * 60_000;
/** Requesters per trust domain (each is matched per request by client id). */
const MAX_TXN_REQUESTERS = 256;
/** Keys of `request_details` / `request_context` one requester may set, and computed `tctx` members. */
const MAX_TXN_KEYS = 32;

/** A member name of `tctx` / `rctx` (what a request's JSON key must equal to be copied). */
const memberName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/, 'must be a letter or _, then up to 63 of A-Z a-z 0-9 _ . : -')
  .refine((v) => !['__proto__', 'constructor', 'prototype'].includes(v), { message: 'is reserved' });
/** A scope token (RFC 6749 §3.3: NQCHAR without space). */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'must be an RFC 6749 scope token (visible ASCII, no " or \\)');

const requesterSchema = z.strictObject({
  /**
   * The registered client id (`tokenEndpoint.clientAuthentication.clients[].id`) this entry is for:
   * the requester is always the authenticated client, never a value of the request body. Also the
   * `requester` label of the Txn-Token metrics.
   */
  client: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/, 'must be a client id'),
  /**
   * Issuance policy in CEL (docs/policy.md; variables `claims`, `account`, `caller`): every rule must
   * hold for this requester to get a Txn-Token for this subject. Absent: every verified subject.
   */
  allow: z.union([celExpression, z.array(allowRule).min(1).max(16)]).optional(),
  /** Scope values this requester may obtain (always also within the subject token's scope). Absent: any. */
  scopes: z.array(scopeToken).min(1).max(64).optional(),
  /** `request_details` members this requester may set; each is copied into `tctx` (e.g. the gateway's `amount`). Default none. */
  requestDetails: z.array(memberName).max(MAX_TXN_KEYS).default([]),
  /** `request_context` members this requester may set; each is copied into `rctx`. Default none. */
  requestContext: z.array(memberName).max(MAX_TXN_KEYS).default([]),
  /** May present a Txn-Token as `subject_token` (a replacement Txn-Token). Default false. */
  replace: z.boolean().default(false),
});

export const txnTokensSchema = z
  .strictObject({
    /** The trust domain: `aud` of every Txn-Token, and the only `audience` a Txn-Token request may name. */
    trustDomain: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII without spaces'),
    /** Lifetime of a Txn-Token (`exp` − `iat`). Default 1m, at most 15m. */
    ttl: duration({ min: 1_000, max: MAX_TXN_TOKEN_TTL }).default(60_000),
    /** Replacements of one transaction (a Txn-Token presented as `subject_token`), counted in the token. Default 8. */
    maxReplacements: z.number().int().min(0).max(64).default(8),
    /** Computed `tctx` members: name → CEL expression over the subject (`claims`, `account`, `caller`). */
    tctx: z
      .record(memberName, celExpression)
      .refine((m) => Object.keys(m).length <= MAX_TXN_KEYS, { message: `at most ${MAX_TXN_KEYS} computed members` })
      .default({}),
    /** The workloads that may request Txn-Tokens, by client id; any other client is refused (unauthorized_client). */
    requesters: z.array(requesterSchema).min(1).max(MAX_TXN_REQUESTERS),
  })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.requesters.forEach((r, i) => {
      if (seen.has(r.client))
        ctx.addIssue({ code: 'custom', path: ['requesters', i, 'client'], message: `duplicate requester "${r.client}"` });
      seen.add(r.client);
      r.requestContext.forEach((name, j) => {
        if (name === 'authn' || name === 'req_wl_chain')
          ctx.addIssue({
            code: 'custom',
            path: ['requesters', i, 'requestContext', j],
            message: `rctx.${name} is asserted by authjwt: a requester cannot set it`,
          });
      });
      r.requestDetails.forEach((name, j) => {
        if (Object.hasOwn(t.tctx, name))
          ctx.addIssue({
            code: 'custom',
            path: ['requesters', i, 'requestDetails', j],
            message: `"${name}" is computed by txnTokens.tctx: a requester cannot set it`,
          });
      });
    });
  })
  .optional();

export type TxnTokensConfig = NonNullable<z.output<typeof txnTokensSchema>>;

/** `txnTokens.requesters[].client` must be registered clients of the token endpoint (run from the root schema). */
export function checkTxnTokens(
  c: {
    txnTokens?: TxnTokensConfig | undefined;
    tokenEndpoint: { enabled: boolean; clientAuthentication: { clients: readonly { id: string }[] } };
  },
  ctx: z.RefinementCtx,
): void {
  const t = c.txnTokens;
  if (!t) return;
  if (!c.tokenEndpoint.enabled)
    ctx.addIssue({
      code: 'custom',
      path: ['txnTokens'],
      message: 'needs tokenEndpoint.enabled: Txn-Tokens are issued by the token endpoint',
    });
  const clients = new Set(c.tokenEndpoint.clientAuthentication.clients.map((k) => k.id));
  t.requesters.forEach((r, i) => {
    if (!clients.has(r.client))
      ctx.addIssue({
        code: 'custom',
        path: ['txnTokens', 'requesters', i, 'client'],
        message: `"${r.client}" is not a client of tokenEndpoint.clientAuthentication.clients: requesters must authenticate`,
      });
  });
}
