/**
 * Client authentication of the token endpoint (issue 21): what a request presents, what the
 * authenticator proves from it, and the replay cache it needs. The HTTP adapter reads the credentials
 * from TLS and the form; src/clients/ verifies them; the exchange use case receives only the proven
 * {@link Caller}, never a value from the request body.
 */
import type { Caller } from '../exchange/ports.ts';

/** The TLS client certificate of the connection, as the listener verified it against the trust bundle. */
export interface PresentedCertificate {
  /** The chain verified against `internalHttp.tls.clientCaFile` (Node's `TLSSocket.authorized`). */
  authorized: boolean;
  /** OpenSSL's verification error when not authorized (CERT_HAS_EXPIRED, UNABLE_TO_GET_ISSUER_CERT_LOCALLY…). */
  error: string | undefined;
  /** The leaf certificate, DER. */
  raw: Buffer;
}

/** What a token request presents to prove which client sends it (untrusted until verified). */
export interface ClientCredentials {
  /** Present when the listener requested a certificate and the client sent one. */
  certificate?: PresentedCertificate | undefined;
  /** RFC 7521 §4.2 `client_assertion_type` and `client_assertion`. */
  assertionType?: string | undefined;
  assertion?: string | undefined;
  /** RFC 6749 §2.2 `client_id`: when sent, it must name the client the credential proves. */
  clientId?: string | undefined;
}

/** Port: remembers single-use values (assertion `jti`s) until they expire, across the replicas sharing it. */
export interface ReplayCache {
  /**
   * Records `key` until `expiresAt` (ms since epoch). True when it was not there (first use), false for
   * a replay. Throws `CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE` when it cannot tell: the caller refuses.
   */
  remember(key: string, expiresAt: number, options?: { signal?: AbortSignal | undefined }): Promise<boolean>;
  /** Reachable as last observed (metrics; never gates readiness). */
  up(): boolean;
  close(): Promise<void>;
}

/** Authenticates the caller of one token request. */
export interface ClientAuthenticator {
  /**
   * The proven caller; the anonymous caller when the request presents no credential and `none` is
   * accepted. Throws `CLIENT_AUTH_*` (invalid_client) otherwise, and never downgrades a failed
   * credential to `none`.
   */
  authenticate(credentials: ClientCredentials, options?: { signal?: AbortSignal | undefined }): Promise<Caller>;
  /** Whether the endpoint asks for client certificates (tls_client_auth is accepted). */
  readonly usesCertificates: boolean;
  /** Accepted methods, for discovery (`token_endpoint_auth_methods_supported`) and the 401 challenge. */
  readonly methods: readonly string[];
  /** JWS algorithms of private_key_jwt assertions, for discovery; empty without private_key_jwt. */
  readonly assertionAlgorithms: readonly string[];
  close(): Promise<void>;
}
