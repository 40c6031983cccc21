/**
 * The RFC 8693 §3 token type identifiers authjwt reads or answers with, named once: the token endpoint
 * (src/http) and the Transaction Token door (src/txn-tokens) both speak them. The Txn-Token's own type
 * is in src/txn-tokens/constants.ts.
 */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** Never accepted as a subject token (a refresh token is not a proof of the user's presence). */
export const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token';
/** draft-ietf-oauth-transaction-tokens: a workload's own JWT as the subject token. */
export const SELF_SIGNED_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:self_signed';
