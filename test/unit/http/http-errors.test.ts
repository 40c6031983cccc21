/**
 * The deny contract of the HTTP map (src/http/http-errors.ts), over EVERY catalogue code: at the edge
 * (forward-auth, Envoy ext_authz denied responses) and at the RFC 8693 token endpoint, each failure has
 * an explicit status and a body whose `error` is a registered code — never null — with the catalogue
 * code at the end of `error_description`. The doors' live answers: test/integration/deny-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authJwtError, ERRORS, type ErrorName } from '../../../src/errors.ts';
import { failureBody, OAUTH_ERROR_CODES, toEdgeFailure, toOAuthError } from '../../../src/http/http-errors.ts';

const NAMES = Object.keys(ERRORS) as ErrorName[];
/** What each error kind is at the edge: status and body code. */
const EDGE = {
  invalid_argument: [401, 'invalid_token'],
  unauthenticated: [401, 'invalid_token'],
  permission_denied: [403, 'access_denied'],
  unavailable: [503, 'temporarily_unavailable'],
  resource_exhausted: [503, 'temporarily_unavailable'],
  deadline_exceeded: [503, 'temporarily_unavailable'],
  internal: [500, 'server_error'],
} as const;

const bodyOf = (text: string) => JSON.parse(text) as { error: unknown; error_description: string };

describe('edge deny contract (toEdgeFailure), every catalogue code', () => {
  for (const name of NAMES) {
    it(`ERR_AUTHJWT_${name}`, () => {
      const failure = toEdgeFailure(authJwtError(name));
      const [status, error] = EDGE[ERRORS[name].kind];
      assert.equal(failure.status, status);
      const body = bodyOf(failureBody(failure));
      assert.equal(body.error, error);
      assert.ok(OAUTH_ERROR_CODES.includes(body.error as never));
      assert.ok(body.error_description.endsWith(` (ERR_AUTHJWT_${name})`), body.error_description);
      assert.deepEqual(Object.keys(body), ['error', 'error_description']);
      const challenge = failure.headers['www-authenticate'];
      if (status === 401) {
        // RFC 6750 §3.1: a request without any credential gets a challenge without an error code.
        if (name === 'REQUEST_MISSING_TOKEN') assert.equal(challenge, 'Bearer');
        else assert.match(challenge!, /^Bearer error="invalid_token", error_description="[^"\\]+"$/);
      } else assert.equal(challenge, undefined, 'a challenge only on 401');
      assert.equal(failure.headers['retry-after'], status === 503 ? '1' : undefined);
      assert.equal(failure.headers['cache-control'], 'no-store');
    });
  }

  it('a thrown non-catalogue value (a bug) and an abort map to 500 server_error and 503 temporarily_unavailable', () => {
    assert.deepEqual(bodyOf(failureBody(toEdgeFailure(new TypeError('x')))), {
      error: 'server_error',
      error_description: 'internal error (ERR_AUTHJWT_INTERNAL)',
    });
    const abort = toEdgeFailure(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    assert.deepEqual([abort.status, bodyOf(failureBody(abort)).error], [503, 'temporarily_unavailable']);
  });
});

describe('token endpoint deny contract (toOAuthError), every catalogue code', () => {
  for (const name of NAMES) {
    it(`ERR_AUTHJWT_${name}`, () => {
      const failure = toOAuthError(authJwtError(name));
      const body = bodyOf(failureBody(failure));
      assert.ok(OAUTH_ERROR_CODES.includes(body.error as never), `${String(body.error)} is registered`);
      assert.ok(body.error_description.endsWith(` (ERR_AUTHJWT_${name})`), body.error_description);
      // RFC 8693 §2.2.2 / RFC 6749 §5.2: the status follows the code.
      const expected: Record<string, number[]> = {
        invalid_request: [400],
        invalid_target: [400],
        // issue 22 (Txn-Tokens): RFC 6749 §5.2's codes for scope and for a client the policy refuses.
        invalid_scope: [400],
        unauthorized_client: [400],
        unsupported_grant_type: [400],
        invalid_client: [401],
        temporarily_unavailable: [503, 429],
        server_error: [500],
      };
      assert.ok(expected[body.error as string]?.includes(failure.status), `${name}: ${failure.status} ${String(body.error)}`);
      assert.equal(failure.headers['retry-after'], failure.status === 503 || failure.status === 429 ? '1' : undefined);
      assert.equal(failure.headers['cache-control'], 'no-store');
    });
  }
});
