import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { FileCertificateProvider } from '../tls/file-certificate-provider.ts';
import type { AddressInfo } from 'node:net';
import type { PublishedJwks } from '../keys/key-store.ts';

export interface HttpRoutes {
  /** Issuer of minted tokens (discovery and path prefix). */
  issuer: string;
  jwksUri: string;
  jwks: () => PublishedJwks;
  /** JWKS Cache-Control max-age (ms). */
  jwksMaxAge: number;
  /** Algorithms of published keys, for discovery. */
  signingAlgorithms: () => string[];
  live: () => boolean;
  ready: () => { ready: boolean; checks: Record<string, unknown> };
  metrics?: (() => Promise<{ contentType: string; body: string }>) | undefined;
}

export interface HttpServerHandle {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * The public HTTP surface: JWKS and OIDC discovery (so gateways configured with only the issuer find
 * the keys), probes and metrics. Discovery and JWKS are served at the root and under the issuer's
 * path, so an issuer such as https://host/authjwt works behind a path-routing ingress.
 */
export function createHttpHandler(routes: HttpRoutes) {
  const issuerPath = new URL(routes.issuer).pathname.replace(/\/$/, '');
  const jwksPath = new URL(routes.jwksUri).pathname;
  const discovery = () =>
    JSON.stringify({
      issuer: routes.issuer,
      jwks_uri: routes.jwksUri,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: routes.signingAlgorithms(),
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'provider', 'client_id', 'email', 'email_verified', 'name', 'preferred_username', 'groups'],
    });

  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      if (path === '/.well-known/jwks.json' || path === `${issuerPath}/.well-known/jwks.json` || path === jwksPath) {
        const jwks = routes.jwks();
        const headers = { etag: jwks.etag, 'cache-control': `public, max-age=${Math.floor(routes.jwksMaxAge / 1000)}` };
        if (req.headers['if-none-match'] === jwks.etag) {
          res.writeHead(304, headers).end();
          return;
        }
        send(200, 'application/jwk-set+json', jwks.body, headers);
      } else if (path === '/.well-known/openid-configuration' || path === `${issuerPath}/.well-known/openid-configuration`) {
        send(200, 'application/json', discovery(), { 'cache-control': 'public, max-age=300' });
      } else if (path === '/livez') {
        const live = routes.live();
        send(live ? 200 : 503, 'text/plain; charset=utf-8', live ? 'ok\n' : 'not live\n', { 'cache-control': 'no-store' });
      } else if (path === '/readyz') {
        const r = routes.ready();
        send(r.ready ? 200 : 503, 'application/json', JSON.stringify({ status: r.ready ? 'ready' : 'not ready', ...r.checks }), { 'cache-control': 'no-store' });
      } else if (path === '/metrics' && routes.metrics) {
        const m = await routes.metrics();
        send(200, m.contentType, m.body, { 'cache-control': 'no-store' });
      } else {
        send(404, 'text/plain; charset=utf-8', 'not found\n');
      }
    } catch {
      if (!res.headersSent) send(500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  };
}

export interface HttpTls {
  certFile: string;
  keyFile: string;
  /** Files are re-read this often (ms); a changed certificate applies to new connections. */
  reloadInterval: number;
}

export async function startHttpServer(listen: string, routes: HttpRoutes, tls?: HttpTls): Promise<HttpServerHandle> {
  const handler = createHttpHandler(routes);
  let certificates: FileCertificateProvider | undefined;
  let server: Server;
  if (tls) {
    // The same reload mechanism as gRPC: new connections get a rotated certificate, open ones stay.
    certificates = new FileCertificateProvider({ cert: tls.certFile, key: tls.keyFile }, tls.reloadInterval);
    const initial = certificates.identity!;
    const https: HttpsServer = createHttpsServer({ cert: initial.certificate, key: initial.privateKey }, (q, s) => void handler(q, s));
    certificates.addIdentityCertificateListener((update) => {
      if (update) https.setSecureContext({ cert: update.certificate, key: update.privateKey });
    });
    server = https as unknown as Server;
  } else {
    server = createServer((q, s) => void handler(q, s));
  }
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 65_000;
  const { host, port } = splitHostPort(listen);
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

export function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
