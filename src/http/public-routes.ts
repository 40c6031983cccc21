import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { entityTag, notModified, send } from './respond.ts';
import type { HttpRoute } from './router.ts';

interface PublishedKeys {
  /** The JWKS document and its entity tag (changes with the key set). */
  jwks(): { body: string; etag: string };
  /** Algorithms verifiers must accept (published keys and announced ones). */
  algorithms(): readonly string[];
}

export interface PublicRoutesOptions {
  /** Issuer of minted tokens (discovery and path prefix). */
  issuer: string;
  jwksUri: string;
  keys: PublishedKeys;
  /** JWKS Cache-Control max-age (ms). */
  jwksMaxAge: number;
  /** Claims minted tokens can carry (discovery `claims_supported`). */
  claims: readonly string[];
  /** Extra discovery members: `token_endpoint`, `grant_types_supported`, … when the token endpoint is advertised. */
  discoveryExtras?: () => Record<string, unknown>;
  /** Origins allowed to read JWKS and discovery from a browser; `*` for any (public keys). Empty: no CORS headers. */
  corsOrigins: readonly string[];
}

const DISCOVERY_MAX_AGE_S = 300;

/**
 * The public HTTP surface: JWKS and OIDC discovery, so that gateways configured with only the
 * issuer find the keys. Served at the root and under the issuer's path, so an issuer such as
 * https://host/authjwt works behind a path-routing ingress. ETag with weak comparison and lists
 * (RFC 9110), CORS for browsers on other origins (the content is public).
 */
export function createPublicRoutes(options: PublicRoutesOptions): HttpRoute[] {
  const issuerPath = new URL(options.issuer).pathname.replace(/\/$/, '');
  const jwksPath = new URL(options.jwksUri).pathname;
  const cors = corsHeaders(options.corsOrigins);

  const preflight = (req: IncomingMessage, res: ServerResponse) => {
    const headers = cors(req);
    if (!headers) return void res.writeHead(204, { allow: 'GET, HEAD, OPTIONS' }).end();
    res
      .writeHead(204, {
        ...headers,
        'access-control-allow-methods': 'GET, HEAD, OPTIONS',
        'access-control-allow-headers': 'if-none-match, cache-control',
        'access-control-max-age': '86400',
        allow: 'GET, HEAD, OPTIONS',
      })
      .end();
  };

  const jwks: HttpRoute = {
    paths: [...new Set(['/.well-known/jwks.json', `${issuerPath}/.well-known/jwks.json`, jwksPath])],
    methods: ['GET', 'OPTIONS'],
    handle(req, res) {
      if (req.method === 'OPTIONS') return preflight(req, res);
      const { body, etag } = options.keys.jwks();
      const headers = { etag, 'cache-control': `public, max-age=${Math.floor(options.jwksMaxAge / 1000)}`, ...cors(req) };
      if (notModified(req, etag)) return void res.writeHead(304, headers).end();
      send(req, res, 200, 'application/jwk-set+json', body, headers);
    },
  };

  let cached: { source: string; body: string; etag: string } | undefined;
  const discovery: HttpRoute = {
    paths: [...new Set(['/.well-known/openid-configuration', `${issuerPath}/.well-known/openid-configuration`])],
    methods: ['GET', 'OPTIONS'],
    handle(req, res) {
      if (req.method === 'OPTIONS') return preflight(req, res);
      // Only members that are true, plus the REQUIRED ones that apply (docs/clients.md#discovery):
      // authjwt signs nobody in, so there is no authorization_endpoint (RFC 8414 §2 allows that when
      // no grant type uses it) and no response type; grant types are listed explicitly because an
      // absent list means ["authorization_code", "implicit"].
      const document = {
        issuer: options.issuer,
        jwks_uri: options.jwksUri,
        response_types_supported: [],
        grant_types_supported: [],
        ...options.discoveryExtras?.(),
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: options.keys.algorithms(),
        claims_supported: options.claims,
      };
      const source = JSON.stringify(document);
      if (cached?.source !== source)
        cached = { source, body: source, etag: entityTag(createHash('sha256').update(source).digest('base64url').slice(0, 27)) };
      const headers = { etag: cached.etag, 'cache-control': `public, max-age=${DISCOVERY_MAX_AGE_S}`, ...cors(req) };
      if (notModified(req, cached.etag)) return void res.writeHead(304, headers).end();
      send(req, res, 200, 'application/json', cached.body, headers);
    },
  };
  return [jwks, discovery];
}

/** CORS response headers for the request's Origin, or undefined when it is not allowed. */
function corsHeaders(origins: readonly string[]): (req: IncomingMessage) => Record<string, string> | undefined {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (req): Record<string, string> | undefined => {
    if (origins.length === 0) return undefined;
    if (any) return { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'etag' };
    const origin = req.headers.origin;
    if (!origin || !allowed.has(origin)) return { vary: 'origin' };
    return { 'access-control-allow-origin': origin, 'access-control-expose-headers': 'etag', vary: 'origin' };
  };
}
