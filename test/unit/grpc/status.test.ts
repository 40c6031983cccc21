import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { AuthJwtError, invalidArgument, providerUnavailable, tokenRejected, type ErrorKind } from '../../../src/errors.ts';
import { toGrpcStatus } from '../../../src/grpc/status.ts';

it('maps every error kind to its one gRPC status', () => {
  const table: [ErrorKind, status][] = [
    ['invalid_argument', status.INVALID_ARGUMENT],
    ['unauthenticated', status.UNAUTHENTICATED],
    ['permission_denied', status.PERMISSION_DENIED],
    ['unavailable', status.UNAVAILABLE],
    ['resource_exhausted', status.RESOURCE_EXHAUSTED],
    ['deadline_exceeded', status.DEADLINE_EXCEEDED],
    ['internal', status.INTERNAL],
  ];
  for (const [kind, code] of table) {
    const r = toGrpcStatus(new AuthJwtError(kind, `ERR_AUTHJWT_TEST_${kind.toUpperCase()}`, 'm'));
    assert.equal(r.code, code, kind);
    assert.equal(r.outcome, kind);
  }
});

it('details carry the safe message and code only, never detail or cause', () => {
  const e = tokenRejected('EXPIRED', 'access token expired', { detail: 'secret-detail', cause: new Error('eyJhbGciOi.secret.token') });
  const r = toGrpcStatus(e);
  assert.equal(r.details, 'access token expired (ERR_AUTHJWT_UPSTREAM_EXPIRED)');
  assert.equal(toGrpcStatus(invalidArgument('X', 'bad')).code, status.INVALID_ARGUMENT);
  assert.equal(toGrpcStatus(providerUnavailable('X', 'down')).code, status.UNAVAILABLE);
});

it('an unexpected error is INTERNAL with a fixed message (a bug, never client input)', () => {
  const r = toGrpcStatus(new TypeError('x is undefined: token=abc'));
  assert.equal(r.code, status.INTERNAL);
  assert.equal(r.details, 'internal error');
});

it('aborts and timeouts are DEADLINE_EXCEEDED', () => {
  assert.equal(toGrpcStatus(new DOMException('t', 'TimeoutError')).code, status.DEADLINE_EXCEEDED);
  assert.equal(toGrpcStatus(new DOMException('a', 'AbortError')).code, status.DEADLINE_EXCEEDED);
});
