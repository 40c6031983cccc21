/**
 * The call chain of docs/txn-tokens.md#at-the-edge-and-internal-hops as test-owned processes on
 * loopback (issue 22), built from the deploy/txn-tokens examples:
 *
 *   client ─▶ edge Envoy (ext_authz, mint) ─▶ hop 1 Envoy (ext_authz, verify) ─▶ relay service
 *          ─▶ hop 2 Envoy (jwt_authn on Txn-Token + RBAC on typ) ─▶ last service
 *
 * The relay is a workload that calls the next one with the `Txn-Token` it received, unmodified (the
 * draft's rule for outbound calls); the last service reads `sub`, `scope`, `tctx` from it. Used by
 * test/integration/txn-tokens-edge.test.ts (oidc-provider) and test/e2e/txn-tokens.test.ts (Keycloak).
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { renderExample, startEnvoy, type EnvoyGateway } from './gateways.ts';
import { makeCa, makeCert } from './certs.ts';
import { REPO_ROOT } from './interop-tools.ts';
import { freePort, listenOnLoopback, type LoopbackServer } from './net.ts';

/** `txnTokens.trustDomain` of deploy/txn-tokens/authjwt.yaml, and the `audiences` of hop-jwt-authn.yaml. */
export const TRUST_DOMAIN = 'trust-domain.example';

/** `req_wl` of the example's gateway requester: its registered SPIFFE ID. */
export const GATEWAY_WORKLOAD = 'spiffe://trust-domain.example/ns/edge/sa/api-gateway';

/**
 * deploy/txn-tokens/authjwt.yaml as a test runs it: the example's `txnTokens`, `tokenEndpoint` and
 * `edge` sections unchanged but for the provider (the test's), the requester's scopes when given, the
 * internal listener's certificates (a test CA in `dir`) and a key directory the test can sign with.
 */
export function exampleConfig(options: { provider: Record<string, unknown>; keysDir: string; tlsDir: string; scopes?: string[] }) {
  const raw = parseYaml(readFileSync(join(REPO_ROOT, 'deploy/txn-tokens/authjwt.yaml'), 'utf8')) as Record<string, any>;
  if (raw.txnTokens.trustDomain !== TRUST_DOMAIN) throw new Error('the Envoy examples name another trust domain than authjwt.yaml');
  raw.providers = [options.provider];
  raw.keys = { dir: options.keysDir, publishLeadTime: '0s' };
  const ca = makeCa(options.tlsDir, 'ca');
  const server = makeCert(options.tlsDir, 'ca', 'authjwt', { san: 'DNS:localhost,IP:127.0.0.1', usage: 'serverAuth' });
  raw.internalHttp = { tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: ca.certFile } };
  if (options.scopes) raw.txnTokens.requesters[0].scopes = options.scopes;
  delete raw.issuer;
  delete raw.tokenEndpoint.url;
  return raw;
}

/** What the last service saw of one request. */
export interface LastSeen {
  txnToken: string | undefined;
  typ: string | undefined;
  payload: JWTPayload & { txn?: string; scope?: string; tctx?: Record<string, unknown>; rctx?: Record<string, unknown>; req_wl?: string };
  /** Whether any `Authorization` reached the last service (the external token must not). */
  authorization: string | undefined;
}

export interface TxnTokenChain {
  edge: EnvoyGateway;
  hop1: EnvoyGateway;
  hop2: EnvoyGateway;
  /** Every request that reached the last service. */
  seen: LastSeen[];
  /** The last service's own URL (behind hop 2). */
  lastUrl: string;
  stop(): Promise<void>;
}

export interface ChainOptions {
  envoy: string;
  /** authjwt's gRPC (ext_authz) port and public HTTP port (JWKS). */
  grpcPort: number;
  httpPort: number;
}

/** GET through a gateway with these headers; the body parsed when JSON. */
export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body };
}

export async function startTxnTokenChain(options: ChainOptions): Promise<TxnTokenChain> {
  const seen: LastSeen[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const last = await listenOnLoopback(
      createServer((req, res) => {
        const txnToken = single(req, 'txn-token');
        let entry: LastSeen;
        try {
          entry = {
            txnToken,
            typ: txnToken ? (decodeProtectedHeader(txnToken).typ as string | undefined) : undefined,
            payload: txnToken ? (decodeJwt(txnToken) as LastSeen['payload']) : {},
            authorization: single(req, 'authorization'),
          };
        } catch {
          entry = { txnToken, typ: undefined, payload: {}, authorization: single(req, 'authorization') };
        }
        seen.push(entry);
        const { sub, scope, tctx, txn, req_wl } = entry.payload;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub, scope, tctx, txn, req_wl }));
      }),
    );
    cleanups.push(() => last.close());
    const hop2Port = await freePort();
    const hop2 = await startEnvoy(
      options.envoy,
      hop2Port,
      renderExample('deploy/txn-tokens/hop-jwt-authn.yaml', {
        'port_value: 10002': `port_value: ${hop2Port}`,
        '{ address: 127.0.0.1, port_value: 3001 }': `{ address: 127.0.0.1, port_value: ${last.port} }`,
        'http://authjwt.auth.svc.cluster.local:8080/.well-known/jwks.json': `http://127.0.0.1:${options.httpPort}/.well-known/jwks.json`,
        '{ address: authjwt.auth.svc.cluster.local, port_value: 8080 }': `{ address: 127.0.0.1, port_value: ${options.httpPort} }`,
      }),
    );
    cleanups.push(() => hop2.stop());
    const relay = await startRelay(hop2.url);
    cleanups.push(() => relay.close());
    const hop1Port = await freePort();
    const authjwtGrpc = `{ address: 127.0.0.1, port_value: ${options.grpcPort} }`;
    const hop1 = await startEnvoy(
      options.envoy,
      hop1Port,
      renderExample('deploy/txn-tokens/hop-ext-authz.yaml', {
        'port_value: 10001': `port_value: ${hop1Port}`,
        '{ address: 127.0.0.1, port_value: 3000 }': `{ address: 127.0.0.1, port_value: ${relay.port} }`,
        '{ address: authjwt.auth.svc.cluster.local, port_value: 50051 }': authjwtGrpc,
      }),
    );
    cleanups.push(() => hop1.stop());
    const edgePort = await freePort();
    const edge = await startEnvoy(
      options.envoy,
      edgePort,
      renderExample('deploy/txn-tokens/edge-envoy.yaml', {
        'port_value: 10000': `port_value: ${edgePort}`,
        '{ address: orders.shop.svc.cluster.local, port_value: 10001 }': `{ address: 127.0.0.1, port_value: ${hop1Port} }`,
        '{ address: authjwt.auth.svc.cluster.local, port_value: 50051 }': authjwtGrpc,
      }),
    );
    cleanups.push(() => edge.stop());
    return { edge, hop1, hop2, seen, lastUrl: last.url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function single(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** A workload between hop 1 and hop 2: calls the next hop with the Txn-Token as it was received (and nothing else). */
async function startRelay(next: string): Promise<LoopbackServer> {
  return listenOnLoopback(
    createServer((req, res) => {
      const txnToken = single(req, 'txn-token');
      const out = httpRequest(
        `${next}${req.url ?? '/'}`,
        { method: 'GET', headers: txnToken ? { 'txn-token': txnToken } : {} },
        (upstream) => {
          res.writeHead(upstream.statusCode ?? 502, { 'content-type': upstream.headers['content-type'] ?? 'text/plain' });
          upstream.pipe(res);
        },
      );
      out.on('error', () => res.writeHead(502).end());
      out.end();
    }),
  );
}

/**
 * Txn-Tokens a hop must refuse, made from a valid one: `forged` (the same claims and kid, another
 * key), `expired`, `otherTrustDomain` (`aud`) and `wrongTyp` (`typ: JWT`) — the last three signed
 * with authjwt's own key (`signingKey`, the private JWK of its key directory), so only the named
 * property is wrong.
 */
export async function badTxnTokens(
  valid: string,
  signingKey: JWK,
): Promise<Record<'forged' | 'expired' | 'otherTrustDomain' | 'wrongTyp', string>> {
  const header = decodeProtectedHeader(valid);
  const payload = decodeJwt(valid);
  const { privateKey: otherKey } = await generateKeyPair('ES256', { extractable: true });
  const sign = (claims: JWTPayload, key: Parameters<SignJWT['sign']>[0], typ = header.typ as string) =>
    new SignJWT(claims).setProtectedHeader({ alg: header.alg!, kid: header.kid!, typ }).sign(key);
  const ours = await importJWK(signingKey, header.alg);
  const now = Math.floor(Date.now() / 1000);
  return {
    forged: await sign(payload, otherKey),
    expired: await sign({ ...payload, iat: now - 600, exp: now - 300 }, ours),
    otherTrustDomain: await sign({ ...payload, aud: 'other-trust-domain.example' }, ours),
    wrongTyp: await sign(payload, ours, 'JWT'),
  };
}

/** A private ES256 JWK with a fixed kid, for a key directory the test can also sign with. */
export async function newTestSigningJwk(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
}
