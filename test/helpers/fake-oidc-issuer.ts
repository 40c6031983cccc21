/**
 * FAKE OIDC issuer on loopback whose answers a test scripts exactly: discovery, JWKS, RFC 7662
 * introspection (client_secret_basic) and userinfo. Use it where a real provider cannot be made to say
 * what the test needs (an introspection answer marked `typ: Refresh`, a 401 with
 * `WWW-Authenticate: Basic`, an 8 MiB body, a JWKS endpoint that goes down, a 3 s answer whose
 * request must be aborted). Not a provider implementation: for realistic flows use test/helpers/oidc.ts.
 *
 * Every request is recorded with its endpoint and whether the client went away before the answer
 * was sent (`aborted`), so tests can assert that authjwt cancelled a provider call.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export type FakeEndpoint = 'discovery' | 'jwks' | 'introspection' | 'userinfo' | 'other';

/** One scripted HTTP answer. */
export interface FakeAnswer {
  status?: number;
  headers?: Record<string, string>;
  /** JSON value (serialized), or raw text/bytes. Omitted: empty body. */
  json?: unknown;
  raw?: string | Uint8Array;
  /** Send the body as chunks without content-length (Transfer-Encoding: chunked). */
  chunked?: boolean;
  /** Wait this long before answering (the request may be aborted meanwhile: then nothing is sent). */
  delayMs?: number;
  /** Destroy the connection instead of answering (a network failure). */
  destroy?: boolean;
}

export interface FakeRequest {
  endpoint: FakeEndpoint;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Form parameters (introspection) . */
  params: URLSearchParams;
  /** Bearer token (userinfo) or `token` form parameter (introspection). */
  token: string | undefined;
  /** Client id and secret from Basic authentication, when sent. */
  basic: { id: string; secret: string } | undefined;
  receivedAt: number;
  /** The client closed the connection before the answer was complete. */
  aborted: boolean;
  /** The answer was sent completely. */
  answered: boolean;
}

export type FakeHandler = (req: FakeRequest) => FakeAnswer | Promise<FakeAnswer>;

export interface FakeOidcIssuer {
  issuer: string;
  port: number;
  client: { id: string; secret: string };
  /** The published signing key (ES256): `sign()` makes tokens that verify against the JWKS. */
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** Signs a compact JWS over `payload` (object or exact JSON text) with the published key. */
  sign(payload: Record<string, unknown> | string, header?: Record<string, unknown>): Promise<string>;
  /** Introspection answer for an opaque token (default handler; a string is sent as is); unknown tokens are inactive. */
  introspection: Map<string, Record<string, unknown> | string>;
  /** Userinfo answer for a token (default handler; a string is sent as is); unknown tokens get 401 invalid_token. */
  userinfo: Map<string, Record<string, unknown> | string>;
  /** Replaces the answer of an endpoint; `undefined` restores the default. */
  script(endpoint: Exclude<FakeEndpoint, 'other'>, handler: FakeHandler | undefined): void;
  /** Latency (ms) added to every answer of an endpoint unless the answer sets its own `delayMs`. */
  latency: Partial<Record<FakeEndpoint, number>>;
  /** Discovery document fields merged over the default (e.g. id_token_signing_alg_values_supported). */
  discoveryExtra: Record<string, unknown>;
  requests: FakeRequest[];
  count(endpoint: FakeEndpoint): number;
  /** A fresh random opaque token (not JWT-shaped). */
  opaque(): string;
  close(): Promise<void>;
}

/** A JSON object text of about `bytes` bytes: `fields` plus a `pad` member of `x`s. */
export function paddedJson(fields: Record<string, unknown>, bytes: number): string {
  const head = JSON.stringify(fields).slice(0, -1);
  const sep = head.length > 1 ? ',' : '';
  const padLength = Math.max(0, bytes - head.length - sep.length - '"pad":""}'.length);
  return `${head}${sep}"pad":"${'x'.repeat(padLength)}"}`;
}

export async function startFakeOidcIssuer(options: { client?: { id: string; secret: string } } = {}): Promise<FakeOidcIssuer> {
  const client = options.client ?? { id: 'authjwt', secret: `fake-secret-${randomBytes(6).toString('hex')}` };
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `fake-${randomBytes(4).toString('hex')}`;
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const handlers = new Map<FakeEndpoint, FakeHandler>();
  const sockets = new Set<import('node:net').Socket>();

  const server: Server = createServer();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const state: FakeOidcIssuer = {
    issuer,
    port,
    client,
    kid,
    privateKey,
    publicJwk,
    async sign(payload, header = {}) {
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      return new CompactSign(new TextEncoder().encode(text))
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt', ...header } as never)
        .sign(privateKey);
    },
    introspection: new Map(),
    userinfo: new Map(),
    script(endpoint, handler) {
      if (handler) handlers.set(endpoint, handler);
      else handlers.delete(endpoint);
    },
    discoveryExtra: {},
    latency: {},
    requests: [],
    count: (endpoint) => state.requests.filter((r) => r.endpoint === endpoint).length,
    opaque: () => `opq_${randomBytes(24).toString('base64url')}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };

  const defaults: Record<Exclude<FakeEndpoint, 'other'>, FakeHandler> = {
    discovery: () => ({
      json: {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        introspection_endpoint: `${issuer}/introspect`,
        userinfo_endpoint: `${issuer}/userinfo`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        ...state.discoveryExtra,
      },
    }),
    jwks: () => ({ json: { keys: [publicJwk] }, headers: { 'content-type': 'application/jwk-set+json' } }),
    introspection: (req) => {
      if (!req.basic || req.basic.id !== client.id || req.basic.secret !== client.secret) {
        return { status: 401, json: { error: 'invalid_client' }, headers: { 'www-authenticate': 'Basic realm="fake"' } };
      }
      const answer = req.token === undefined ? undefined : state.introspection.get(req.token);
      return jsonAnswer(answer ?? { active: false });
    },
    userinfo: (req) => {
      const answer = req.token === undefined ? undefined : state.userinfo.get(req.token);
      if (!answer) return { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } };
      return jsonAnswer(answer);
    },
  };

  const jsonAnswer = (answer: Record<string, unknown> | string): FakeAnswer =>
    typeof answer === 'string' ? { raw: answer, headers: { 'content-type': 'application/json' } } : { json: answer };
  const endpointOf = (path: string): FakeEndpoint =>
    path === '/.well-known/openid-configuration'
      ? 'discovery'
      : path === '/jwks'
        ? 'jwks'
        : path === '/introspect'
          ? 'introspection'
          : path === '/userinfo'
            ? 'userinfo'
            : 'other';

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (s += c.length + s.length > 64 * 1024 ? '' : c));
      req.on('end', () => resolve(s));
      req.on('error', () => resolve(s));
    });

  const send = async (res: ServerResponse, record: FakeRequest, answer: FakeAnswer) => {
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (record.aborted || res.destroyed) return;
    if (answer.destroy) {
      res.socket?.destroy();
      return;
    }
    const body =
      answer.json !== undefined
        ? Buffer.from(JSON.stringify(answer.json))
        : answer.raw === undefined
          ? Buffer.alloc(0)
          : Buffer.from(answer.raw);
    const headers: Record<string, string> = {
      ...(answer.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...answer.headers,
    };
    if (answer.chunked) {
      res.writeHead(answer.status ?? 200, headers);
      const chunk = 64 * 1024;
      for (let i = 0; i < body.length && !res.destroyed; i += chunk) {
        if (!res.write(body.subarray(i, i + chunk)))
          await new Promise<void>((r) => {
            res.once('drain', r);
            res.once('close', r);
          });
      }
      res.end();
    } else {
      res.writeHead(answer.status ?? 200, { ...headers, 'content-length': String(body.length) });
      res.end(body);
    }
  };

  server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    const endpoint = endpointOf(url.pathname);
    // Recorded on arrival (count() sees a request at once); the form body is filled in below.
    const record: FakeRequest = {
      endpoint,
      method: req.method ?? '',
      path: url.pathname,
      headers: req.headers,
      params: new URLSearchParams(),
      token: undefined,
      basic: undefined,
      receivedAt: Date.now(),
      aborted: false,
      answered: false,
    };
    state.requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    res.on('finish', () => (record.answered = true));
    const text = req.method === 'POST' ? await readBody(req) : '';
    const params = new URLSearchParams(text);
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    const basicMatch = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    let basic: FakeRequest['basic'];
    if (basicMatch) {
      const decoded = Buffer.from(basicMatch[1]!, 'base64').toString();
      const i = decoded.indexOf(':');
      // RFC 6749 §2.3.1: client id and secret are form-urlencoded inside Basic.
      const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      basic = { id: dec(decoded.slice(0, i)), secret: dec(decoded.slice(i + 1)) };
    }
    record.params = params;
    record.token = endpoint === 'introspection' ? (params.get('token') ?? undefined) : bearer?.[1];
    record.basic = basic;
    try {
      const handler = endpoint === 'other' ? () => ({ status: 404 }) : (handlers.get(endpoint) ?? defaults[endpoint]);
      const answer = await handler(record);
      await send(res, record, { delayMs: state.latency[endpoint], ...answer });
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  return state;
}
