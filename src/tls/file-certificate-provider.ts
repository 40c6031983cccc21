import type { experimental } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * Certificate files (a Kubernetes TLS Secret) for the gRPC and HTTPS servers: read synchronously at
 * start (a missing file fails the start; the first handshake never races a slow first read), re-read
 * every `intervalMs`; listeners hear only real changes; a failed read keeps the last good material.
 */
export class FileCertificateProvider implements experimental.CertificateProvider {
  readonly #files: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined };
  #identity: experimental.IdentityCertificateUpdate | null = null;
  #ca: experimental.CaCertificateUpdate | null = null;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #timer: NodeJS.Timeout;

  constructor(files: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined }, intervalMs: number) {
    this.#files = files;
    this.#read(true);
    this.#timer = setInterval(() => this.#read(false), intervalMs);
    this.#timer.unref();
  }

  #read(initial: boolean): void {
    try {
      const { cert, key, ca } = this.#files;
      if (cert && key) {
        const next = { certificate: readFileSync(cert), privateKey: readFileSync(key) };
        if (!this.#identity || !next.certificate.equals(this.#identity.certificate) || !next.privateKey.equals(this.#identity.privateKey)) {
          this.#identity = next;
          for (const l of this.#identityListeners) l(next);
        }
      }
      if (ca) {
        const next = { caCertificate: readFileSync(ca) };
        if (!this.#ca || !next.caCertificate.equals(this.#ca.caCertificate)) {
          this.#ca = next;
          for (const l of this.#caListeners) l(next);
        }
      }
    } catch (error) {
      if (initial) throw error; // a missing file at start is a configuration error
    }
  }

  /** The certificate and key as last read (read at construction, so present from the start). */
  get identity(): experimental.IdentityCertificateUpdate | null {
    return this.#identity;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    // Deferred: grpc-js registers its own watcher right after adding this listener.
    queueMicrotask(() => this.#caListeners.has(listener) && listener(this.#ca));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    queueMicrotask(() => this.#identityListeners.has(listener) && listener(this.#identity));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }
  close(): void {
    clearInterval(this.#timer);
  }
}
