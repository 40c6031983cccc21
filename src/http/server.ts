import { constants } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseHostPort } from '../config/host-port.ts';
import { FileCertificateProvider } from '../tls/file-certificate-provider.ts';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpServerHandle {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export interface HttpTls {
  certFile: string;
  keyFile: string;
  /** Files are re-read this often (ms); a changed certificate applies to new connections. */
  reloadInterval: number;
  /**
   * Trust bundle of client certificates (PEM), re-read like the certificate: every client is asked for a
   * certificate, which is verified against it, but the handshake is not refused — the route reads the
   * verdict (`TLSSocket.authorized`) and answers in its own protocol (the token endpoint: invalid_client).
   */
  clientCaFile?: string | undefined;
}

/** An HTTP(S) listener with conservative timeouts; certificate files reloaded like gRPC's (src/tls). */
export async function startHttpServer(listen: string, handler: HttpHandler, tls?: HttpTls): Promise<HttpServerHandle> {
  let certificates: FileCertificateProvider | undefined;
  let server: Server;
  const serve = (q: IncomingMessage, s: ServerResponse) => void handler(q, s);
  if (tls) {
    // The same reload mechanism as gRPC: new connections get a rotated certificate, open ones stay.
    certificates = new FileCertificateProvider({ cert: tls.certFile, key: tls.keyFile, ca: tls.clientCaFile }, tls.reloadInterval);
    const files = certificates;
    let identity = files.identity!;
    let ca: Buffer | undefined;
    // No TLS session resumption with client certificates: a resumed session would keep the verdict on a
    // certificate (and a trust bundle) from an earlier handshake; each connection is verified anew.
    const context = () => ({
      cert: identity.certificate,
      key: identity.privateKey,
      ...(ca ? { ca, secureOptions: constants.SSL_OP_NO_TICKET } : {}),
    });
    const clientCertificates = tls.clientCaFile ? { requestCert: true, rejectUnauthorized: false } : {};
    let https: HttpsServer | undefined;
    files.addCaCertificateListener((update) => {
      if (!update) return;
      ca = update.caCertificate;
      https?.setSecureContext(context());
    });
    files.addIdentityCertificateListener((update) => {
      if (!update) return;
      identity = update;
      https?.setSecureContext(context());
    });
    if (tls.clientCaFile) ca = readFileSync(tls.clientCaFile);
    https = createHttpsServer({ ...context(), ...clientCertificates }, serve);
    server = https as unknown as Server;
  } else {
    server = createServer(serve);
  }
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 65_000;
  const { host, port } = parseHostPort(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        certificates?.close();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
