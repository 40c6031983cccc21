import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import protobuf from 'protobufjs';
import { AuthJwtError, ERRORS, type ErrorKind, type ErrorName } from '../../../src/errors.ts';
import { GOOGLE_APIS_PROTO_DIR } from '../../../src/grpc/proto.ts';
import { ERROR_DOMAIN, toGrpcStatus } from '../../../src/grpc/status.ts';

const STATUS_OF_KIND: Record<ErrorKind, status> = {
  invalid_argument: status.INVALID_ARGUMENT,
  unauthenticated: status.UNAUTHENTICATED,
  permission_denied: status.PERMISSION_DENIED,
  unavailable: status.UNAVAILABLE,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  internal: status.INTERNAL,
};

it('maps every catalogue entry to the one gRPC status of its kind, with its fixed message and code', () => {
  for (const name of Object.keys(ERRORS) as ErrorName[]) {
    const r = toGrpcStatus(new AuthJwtError(name));
    assert.equal(r.code, STATUS_OF_KIND[ERRORS[name].kind], name);
    assert.equal(r.outcome, ERRORS[name].kind);
    assert.equal(r.details, `${ERRORS[name].message} (ERR_AUTHJWT_${name})`);
  }
});

it('details carry the safe message and code only, never detail or cause', () => {
  const e = new AuthJwtError('UPSTREAM_EXPIRED', { detail: 'secret-detail', cause: new Error('eyJhbGciOi.secret.token') });
  const r = toGrpcStatus(e);
  assert.equal(r.details, 'access token expired (ERR_AUTHJWT_UPSTREAM_EXPIRED)');
  const trailer = r.metadata.get('grpc-status-details-bin')[0] as Buffer;
  assert.ok(!trailer.toString('latin1').includes('secret'), 'no detail or cause in the status details');
});

it('grpc-status-details-bin is a google.rpc.Status with a google.rpc.ErrorInfo (reason, domain, safe metadata)', () => {
  const r = toGrpcStatus(new AuthJwtError('POLICY_DENIED', { metadata: { provider: 'github', rule: 'allow[1]' } }));
  const root = new protobuf.Root();
  root.resolvePath = (_o, t) => (t.startsWith('google/protobuf/') ? t : `${GOOGLE_APIS_PROTO_DIR}/${t}`);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  const decoded = root
    .lookupType('google.rpc.Status')
    .toObject(root.lookupType('google.rpc.Status').decode(r.metadata.get('grpc-status-details-bin')[0] as Buffer)) as {
    code: number;
    message: string;
    details: { type_url: string; value: Uint8Array }[];
  };
  assert.equal(decoded.code, status.PERMISSION_DENIED);
  assert.equal(decoded.message, r.details);
  assert.equal(decoded.details[0]!.type_url, 'type.googleapis.com/google.rpc.ErrorInfo');
  const info = root.lookupType('google.rpc.ErrorInfo').toObject(root.lookupType('google.rpc.ErrorInfo').decode(decoded.details[0]!.value));
  assert.deepEqual(info, { reason: 'ERR_AUTHJWT_POLICY_DENIED', domain: ERROR_DOMAIN, metadata: { provider: 'github', rule: 'allow[1]' } });
});

it('an unexpected error is INTERNAL with a fixed message (a bug, never client input)', () => {
  const r = toGrpcStatus(new TypeError('x is undefined: token=abc'));
  assert.equal(r.code, status.INTERNAL);
  assert.equal(r.details, 'internal error (ERR_AUTHJWT_INTERNAL)');
  assert.ok(r.unexpected instanceof TypeError, 'the original error is kept for the log');
});

it('aborts and timeouts are DEADLINE_EXCEEDED', () => {
  assert.equal(toGrpcStatus(new DOMException('t', 'TimeoutError')).code, status.DEADLINE_EXCEEDED);
  assert.equal(toGrpcStatus(new DOMException('a', 'AbortError')).code, status.DEADLINE_EXCEEDED);
});
