/**
 * The one error taxonomy of authjwt. Domain code throws {@link AuthJwtError}s; the gRPC adapter maps
 * their {@link ErrorKind} to a status in one place (src/grpc/status.ts). `code` is stable and
 * machine-readable (ERR_AUTHJWT_<AREA>_<CONDITION>); `message` is safe to show to a caller and never
 * contains a token; `cause` and `detail` are for logs and spans only.
 */
export type ErrorKind =
  /** The request is malformed, names an unknown provider or the wrong type. */
  | 'invalid_argument'
  /** The credential does not prove the account (bad token, expired, wrong audience, mismatched id). */
  | 'unauthenticated'
  /** A proven identity is not allowed by policy. */
  | 'permission_denied'
  /** A provider or the signing keys cannot be used right now; retrying later may succeed. */
  | 'unavailable'
  /** A limit was hit (overload, load shedding). */
  | 'resource_exhausted'
  /** The caller's deadline passed. */
  | 'deadline_exceeded'
  /** A bug. */
  | 'internal';

export class AuthJwtError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  /** Extra context for logs (never a token). */
  readonly detail: string | undefined;

  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown; detail?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuthJwtError';
    this.kind = kind;
    this.code = code;
    this.detail = options?.detail;
  }
}

export const invalidArgument = (code: string, message: string) =>
  new AuthJwtError('invalid_argument', `ERR_AUTHJWT_REQUEST_${code}`, message);

export const tokenRejected = (code: string, message: string, options?: { cause?: unknown; detail?: string }) =>
  new AuthJwtError('unauthenticated', `ERR_AUTHJWT_UPSTREAM_${code}`, message, options);

export const providerUnavailable = (code: string, message: string, options?: { cause?: unknown; detail?: string }) =>
  new AuthJwtError('unavailable', `ERR_AUTHJWT_PROVIDER_${code}`, message, options);

export const isAuthJwtError = (e: unknown): e is AuthJwtError => e instanceof AuthJwtError;

/** Configuration problems found at start; `path` names the offending field (e.g. `providers[1].issuer`). */
export class ConfigError extends Error {
  readonly code = 'ERR_AUTHJWT_CONFIG_INVALID';
  readonly issues: readonly { path: string; message: string }[];
  constructor(issues: readonly { path: string; message: string }[], source?: string) {
    super(
      `invalid configuration${source ? ` in ${source}` : ''}:\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
