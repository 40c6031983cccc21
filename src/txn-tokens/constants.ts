/**
 * The names draft-ietf-oauth-transaction-tokens registers (the revision implemented is named in
 * docs/txn-tokens.md and {@link TXN_DRAFT_REVISION}).
 */

/** The revision of the draft this module implements (the working group's editor's copy). */
export const TXN_DRAFT_REVISION = 'draft-ietf-oauth-transaction-tokens-08+ (oauth-wg editor copy dbdf43e, 2026-07-06)';

/** `requested_token_type` / `issued_token_type` / `subject_token_type` of a Txn-Token (the draft's IANA section). */
export const TXN_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:txn_token';

/** JWS header `typ` of every Txn-Token (the draft's "JWT Header": MUST be present with this value). */
export const TXN_TOKEN_JWS_TYPE = 'txntoken+jwt';

/** The HTTP header carrying a Txn-Token between workloads (never `Authorization`). */
export const TXN_TOKEN_HEADER = 'Txn-Token';

/** RFC 8693 §2.2.1 `token_type` of a Txn-Token response: it is not an access token. */
export const TXN_RESPONSE_TOKEN_TYPE = 'N_A';

/** `rctx` member holding the earlier requesting workloads of a replaced transaction, oldest first (docs/txn-tokens.md). */
export const REQUESTER_CHAIN_MEMBER = 'req_wl_chain';

/**
 * `rctx` members authjwt asserts itself: a requester's `request_context` cannot set them (except
 * `req_ip` when the requester is configured to relay the originating address).
 */
export const TTS_RCTX_MEMBERS: ReadonlySet<string> = new Set(['req_ip', 'authn', REQUESTER_CHAIN_MEMBER]);

/** JWS algorithms a Txn-Token may be signed with: authjwt's own signing algorithms (RFC 8725 §3.1 allow-list). */
export const TXN_TOKEN_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;
