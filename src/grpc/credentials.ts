import { experimental, ServerCredentials } from '@grpc/grpc-js';
import type { Config } from '../config/load.ts';
import { FileCertificateProvider } from '../tls/file-certificate-provider.ts';

type GrpcTls = NonNullable<Config['grpc']['tls']>;

/**
 * gRPC server credentials. With `tls`: certificate and key (and the client CA for mTLS: clients must
 * then present a certificate it signed) come from files and are re-read every `reloadInterval`, so a
 * rotated certificate is used for new connections without dropping open ones. Without: plaintext.
 */
export function createGrpcCredentials(tls: GrpcTls | undefined): { credentials: ServerCredentials; close(): void } {
  if (!tls) return { credentials: ServerCredentials.createInsecure(), close: () => {} };
  const identity = new FileCertificateProvider({ cert: tls.certFile, key: tls.keyFile }, tls.reloadInterval);
  const clientCa = tls.clientCaFile ? new FileCertificateProvider({ ca: tls.clientCaFile }, tls.reloadInterval) : null;
  // grpc-js 1.14 names these parameters (caProvider, identityProvider) but passes the first as the
  // identity and the second as the CA to the constructor; the call below follows the implementation.
  return {
    credentials: experimental.createCertificateProviderServerCredentials(identity, clientCa, clientCa !== null),
    close: () => {
      identity.close();
      clientCa?.close();
    },
  };
}
