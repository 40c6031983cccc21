/**
 * The `selfSigned` section of a provider (issue 22): self-signed workload JWTs as subject tokens of the
 * token endpoint (draft-ietf-oauth-transaction-tokens, "Self-Signed Subject Token Type",
 * `subject_token_type=urn:ietf:params:oauth:token-type:self_signed`). A provider with this section is of
 * the `selfSigned` kind: each registered workload signs its own JWTs (`iss` = the workload id, `aud` =
 * authjwt) with keys registered here; docs/workload-identity.md. Its other fields (`allow`, `claims`,
 * `audience`, `tokenTtl`…) keep their meaning.
 */
import { z } from 'zod';
import { ASYMMETRIC_JWS_ALGORITHMS, duration, scopeToken, url } from './schema-fields.ts';

const jwk = z.looseObject({ kty: z.string(), kid: z.string().optional(), alg: z.string().optional(), use: z.string().optional() });

/** What a workload signs with by default: the algorithms RFC 8725 §3.2 and FIPS 186-5 users pick (never symmetric, never `none`). */
const DEFAULT_SELF_SIGNED_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;

const workloadSchema = z
  .strictObject({
    /**
     * The workload's unique identifier: the exact `iss` of its self-signed JWTs (the draft: "the unique
     * identifier of the requesting workload"), e.g. its SPIFFE ID `spiffe://cluster.local/ns/batch/sa/nightly`.
     * 1 to 512 visible ASCII characters.
     */
    id: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII without spaces'),
    /** Inline JWK Set of the workload's public keys (exactly one of jwks, jwksFile). */
    jwks: z.strictObject({ keys: z.array(jwk).min(1).max(16) }).optional(),
    /** File holding the JWK Set (e.g. a mounted ConfigMap), re-read every reloadInterval: rotation without restart. */
    jwksFile: z.string().min(1).optional(),
    /** How often jwksFile is re-read; a bad update keeps the last good keys. Default 30s. */
    reloadInterval: duration({ min: 100, max: 3_600_000 }).default(30_000),
    /**
     * The `sub` values the workload may assert besides its own id (the draft: "the subject for whom the
     * Txn-Token is being requested"), exactly; `"*"`: any subject (a scheduler acting for users — the
     * workload's key then speaks for every user: warned at start). Default: none (`sub` = `id`).
     */
    subjects: z.array(z.string().min(1).max(512)).max(256).default([]),
    /**
     * The OAuth scopes the workload may claim (`scope` of its JWTs must be within them; without a `scope`
     * claim the token carries all of them). Unset: the scopes of its tokens cannot be determined, and a
     * Txn-Token request with them is refused (the draft's "Unknown subject_token scope").
     */
    scopes: z.array(scopeToken).max(64).optional(),
  })
  .refine((w) => (w.jwks === undefined) !== (w.jwksFile === undefined), { message: 'set exactly one of jwks, jwksFile' });

export const selfSignedSchema = z
  .strictObject({
    /**
     * The `aud` every self-signed JWT must name (the draft: "the unique identifier of the TTS"). Default:
     * authjwt's `issuer`. An `aud` array must contain it.
     */
    audience: url.optional(),
    /** Accepted JWS algorithms (asymmetric only, RFC 8725 §2.1). Default ES256, ES384, EdDSA, Ed25519, PS256, RS256. */
    algorithms: z
      .array(z.enum(ASYMMETRIC_JWS_ALGORITHMS))
      .min(1)
      .default([...DEFAULT_SELF_SIGNED_ALGORITHMS]),
    /**
     * Longest accepted lifetime: `exp` − `iat`, and `exp` − now. A self-signed JWT is made for one request:
     * short by design. Default 5m, at most 1h.
     */
    maxTokenLifetime: duration({ min: 10_000, max: 3_600_000 }).default(300_000),
    /**
     * Single use: every token needs a `jti`, remembered (per replica: in memory) until it expires; a second
     * presentation is refused. Default on. Off only for workloads that cannot make a `jti` (warned at start).
     */
    replayProtection: z.boolean().default(true),
    /**
     * Where used `jti`s are remembered: `memory` (this replica: with N replicas a token can be used once per
     * replica within its lifetime) or `redis` (shared by every replica: the Redis of
     * `tokenEndpoint.clientAuthentication.replayCache.redis`, keys under its `keyPrefix` + `self_signed:`;
     * Redis down → refused, never accepted unchecked). Required with replay protection, like
     * `tokenEndpoint.clientAuthentication.replayCache.store`: the choice is the operator's.
     */
    replayStore: z.enum(['memory', 'redis']).optional(),
    /** Entries of the memory replay cache (per replica); when full of live entries, tokens are refused (UNAVAILABLE). Default 100000. */
    maxReplayEntries: z.number().int().min(100).max(10_000_000).default(100_000),
    /**
     * Also mint access tokens from self-signed JWTs at the token endpoint (`requested_token_type`
     * access_token). Off by default: the draft defines them for Txn-Token requests, and an access token
     * from a workload's own word is a credential the workload could otherwise not get (use client
     * authentication, or a `kubernetes` provider, for workload access tokens).
     */
    accessTokens: z.boolean().default(false),
    /** The registered workloads (at most 1000, unique ids). */
    workloads: z.array(workloadSchema).min(1).max(1000),
  })
  .superRefine((s, ctx) => {
    if (s.replayProtection && s.replayStore === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['replayStore'],
        message:
          'is required with replay protection: redis (shared by every replica) or memory (one replica only: a token could be used once more at each other replica)',
      });
    const seen = new Set<string>();
    s.workloads.forEach((w, i) => {
      if (seen.has(w.id)) ctx.addIssue({ code: 'custom', path: ['workloads', i, 'id'], message: `duplicate workload id "${w.id}"` });
      seen.add(w.id);
    });
  });
