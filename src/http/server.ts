import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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
}

/** An HTTP(S) listener with conservative timeouts; certificate files reloaded like gRPC's (src/tls). */
export async function startHttpServer(listen: string, handler: HttpHandler, tls?: HttpTls): Promise<HttpServerHandle> {
  let certificates: FileCertificateProvider | undefined;
  let server: Server;
  const serve = (q: IncomingMessage, s: ServerResponse) => void handler(q, s);
  if (tls) {
    // The same reload mechanism as gRPC: new connections get a rotated certificate, open ones stay.
    certificates = new FileCertificateProvider({ cert: tls.certFile, key: tls.keyFile }, tls.reloadInterval);
    const initial = certificates.identity!;
    const https: HttpsServer = createHttpsServer({ cert: initial.certificate, key: initial.privateKey }, serve);
    certificates.addIdentityCertificateListener((update) => {
      if (update) https.setSecureContext({ cert: update.certificate, key: update.privateKey });
    });
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
