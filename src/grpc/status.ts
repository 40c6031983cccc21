import { status as GrpcStatus } from '@grpc/grpc-js';
import { isAuthJwtError, type ErrorKind } from '../errors.ts';

/** The ONE map from the error taxonomy to gRPC status codes. */
const KIND_TO_STATUS: Readonly<Record<ErrorKind, GrpcStatus>> = {
  invalid_argument: GrpcStatus.INVALID_ARGUMENT,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  permission_denied: GrpcStatus.PERMISSION_DENIED,
  unavailable: GrpcStatus.UNAVAILABLE,
  resource_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  deadline_exceeded: GrpcStatus.DEADLINE_EXCEEDED,
  internal: GrpcStatus.INTERNAL,
};

/** Outcome label for metrics and logs: a small fixed set. */
export type Outcome = 'ok' | ErrorKind;

export interface GrpcFailure {
  code: GrpcStatus;
  /** Safe to send to the caller: fixed per error, never a token. */
  details: string;
  outcome: Outcome;
  /** Stable error code (ERR_AUTHJWT_…) for logs. */
  reason: string;
}

export function toGrpcStatus(error: unknown): GrpcFailure {
  if (isAuthJwtError(error)) {
    return { code: KIND_TO_STATUS[error.kind], details: `${error.message} (${error.code})`, outcome: error.kind, reason: error.code };
  }
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    return { code: GrpcStatus.DEADLINE_EXCEEDED, details: 'deadline exceeded', outcome: 'deadline_exceeded', reason: 'ERR_AUTHJWT_DEADLINE' };
  }
  return { code: GrpcStatus.INTERNAL, details: 'internal error', outcome: 'internal', reason: 'ERR_AUTHJWT_INTERNAL' };
}
