import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { toAuthJwtError, type ErrorCode, type ErrorKind } from '../errors.ts';
import { loadGoogleRpcRoot } from './proto.ts';

/** The ONE map from the error catalogue's kinds to gRPC status codes. */
const KIND_TO_STATUS: Readonly<Record<ErrorKind, GrpcStatus>> = {
  invalid_argument: GrpcStatus.INVALID_ARGUMENT,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  permission_denied: GrpcStatus.PERMISSION_DENIED,
  unavailable: GrpcStatus.UNAVAILABLE,
  resource_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  deadline_exceeded: GrpcStatus.DEADLINE_EXCEEDED,
  internal: GrpcStatus.INTERNAL,
};

/** `google.rpc.ErrorInfo.domain` of every authjwt error. */
export const ERROR_DOMAIN = 'authjwt';

export interface GrpcFailure {
  code: GrpcStatus;
  /** Safe to send to the caller: the catalogue message and code, never a token, detail or cause. */
  details: string;
  /** Trailers with `grpc-status-details-bin`: a `google.rpc.Status` carrying a `google.rpc.ErrorInfo`. */
  metadata: Metadata;
  outcome: ErrorKind;
  /** Catalogue code (ERR_AUTHJWT_…) for logs. */
  reason: ErrorCode;
  /** Context for logs only. */
  detail: string | undefined;
  /** The original error when it is not one of ours (a bug): logged with its stack. */
  unexpected: unknown;
}

/** The gRPC code of an error kind, without building the status (its details are encoded per call). */
export function grpcCodeOf(kind: ErrorKind): GrpcStatus {
  return KIND_TO_STATUS[kind];
}

/**
 * Any thrown value as a gRPC status, following the richer error model (https://grpc.io/docs/guides/error/):
 * `google.rpc.ErrorInfo` with `reason` = the catalogue code, `domain` = "authjwt" and safe metadata
 * (configured provider id, rule name, limit).
 */
export function toGrpcStatus(error: unknown): GrpcFailure {
  const e = toAuthJwtError(error);
  const code = KIND_TO_STATUS[e.kind];
  const details = `${e.message} (${e.code})`;
  const metadata = new Metadata();
  metadata.set(
    'grpc-status-details-bin',
    encodeStatusDetails(code, details, { reason: e.code, domain: ERROR_DOMAIN, metadata: e.metadata }),
  );
  return {
    code,
    details,
    metadata,
    outcome: e.kind,
    reason: e.code,
    detail: e.detail,
    unexpected: e.code === 'ERR_AUTHJWT_INTERNAL' ? e.cause : undefined,
  };
}

let types: { status: protobuf.Type; errorInfo: protobuf.Type } | undefined;

/** google.rpc.Status{code, message, details: [Any(google.rpc.ErrorInfo)]}, from googleapis' own protos. */
function encodeStatusDetails(
  code: number,
  message: string,
  info: { reason: string; domain: string; metadata: Readonly<Record<string, string>> },
): Buffer {
  if (!types) {
    const root = loadGoogleRpcRoot();
    types = { status: root.lookupType('google.rpc.Status'), errorInfo: root.lookupType('google.rpc.ErrorInfo') };
  }
  const value = types.errorInfo
    .encode(types.errorInfo.fromObject({ reason: info.reason, domain: info.domain, metadata: { ...info.metadata } }))
    .finish();
  const status = types.status.fromObject({ code, message, details: [{ type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value }] });
  return Buffer.from(types.status.encode(status).finish());
}
