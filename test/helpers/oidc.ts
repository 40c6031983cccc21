/**
 * A real OIDC provider (the `oidc-provider` package) in-process on loopback, for integration tests:
 * discovery, JWKS, RFC 7662 introspection, userinfo, JWT (RFC 9068) and opaque access tokens.
 * Tokens are minted through the provider's own models (what its token endpoint does after a grant).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface TestUser {
  sub: string;
  email: string;
  name: string;
  preferred_username: string;
  groups?: string[];
  /** Default true. */
  email_verified?: boolean;
}

export const USERS: Record<string, TestUser> = {
  alice: { sub: 'alice-7d1c', email: 'alice@example.com', name: 'Alice Liddell', preferred_username: 'alice', groups: ['admins', 'staff'] },
  bob: { sub: 'bob-42aa', email: 'bob@example.com', name: 'Bob Builder', preferred_username: 'bob' },
  /** Another company's domain (policy tests). */
  carol: { sub: 'carol-90f1', email: 'carol@partner.example', name: 'Carol Danvers', preferred_username: 'carol' },
  /** Our domain, but the address was never verified (policy tests). */
  dave: { sub: 'dave-5e3b', email: 'dave@example.com', name: 'Dave Lister', preferred_username: 'dave', email_verified: false },
};

export const INTROSPECTION_CLIENT = { id: 'authjwt', secret: 'authjwt-introspection-secret' };
export const API_RESOURCE = 'https://api.internal.test';

export interface OidcTestProvider {
  issuer: string;
  port: number;
  provider: InstanceType<typeof Provider>;
  /** Private signing JWKs the provider uses (first one signs). */
  signingKeys: JWK[];
  /** An opaque access token for `user` issued to `clientId` (usable at userinfo and introspection). */
  opaqueToken(user: TestUser, options?: { clientId?: string; expiresIn?: number }): Promise<string>;
  /** A JWT access token (RFC 9068, header typ at+jwt) for `user` issued to `clientId`; `scope` default `api`. */
  jwtToken(user: TestUser, options?: { clientId?: string; expiresIn?: number; scope?: string }): Promise<string>;
  /** Revokes every token of the user's grants with `clientId`. */
  revoke(token: string): Promise<void>;
  close(): Promise<void>;
}

export async function startOidcProvider(
  options: { port?: number; signingKeys?: JWK[]; introspectionLatencyMs?: number } = {},
): Promise<OidcTestProvider> {
  const signingKeys = options.signingKeys ?? [await newSigningKey('ES256')];
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const byId = new Map(Object.values(USERS).map((u) => [u.sub, u]));
  const resourceInfo = {
    scope: 'api',
    audience: API_RESOURCE,
    accessTokenFormat: 'jwt' as const,
    jwt: { sign: { alg: signingKeys[0]!.alg as 'ES256' } },
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'frontend',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://localhost/cb'],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
      {
        client_id: 'other-app',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://localhost/cb'],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
      {
        client_id: INTROSPECTION_CLIENT.id,
        client_secret: INTROSPECTION_CLIENT.secret,
        redirect_uris: [],
        response_types: [],
        grant_types: ['client_credentials'],
      },
    ],
    jwks: { keys: signingKeys as never },
    clientDefaults: {
      id_token_signed_response_alg: signingKeys[0]!.alg as 'ES256',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true, allowedPolicy: async () => true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: { enabled: true, getResourceServerInfo: async () => resourceInfo, defaultResource: () => API_RESOURCE },
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'groups'] },
    clockTolerance: 0,
    ttl: { Grant: 3600, Session: 3600, AccessToken: 600, ClientCredentials: 600, Interaction: 600, IdToken: 600 },
    findAccount: async (_ctx, id) => {
      const user = byId.get(id);
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ email_verified: true, ...user }) };
    },
    // Keep test output quiet.
    renderError: async (ctx, out) => {
      ctx.body = out;
    },
  });
  provider.on('server_error', () => {});
  const callback = provider.callback();
  const latency = options.introspectionLatencyMs ?? 0;
  server.on('request', (req, res) => {
    // Optional simulated network/IdP latency on introspection (benchmarks).
    if (latency > 0 && req.url?.includes('/token/introspection')) setTimeout(() => callback(req, res), latency);
    else callback(req, res);
  });

  const client = (id: string) => provider.Client.find(id);
  const grantFor = async (user: TestUser, clientId: string) => {
    const grant = new provider.Grant({ accountId: user.sub, clientId });
    grant.addOIDCScope('openid email profile');
    grant.addResourceScope(API_RESOURCE, 'api');
    return grant.save();
  };

  return {
    issuer,
    port,
    provider,
    signingKeys,
    async opaqueToken(user, o = {}) {
      const clientId = o.clientId ?? 'frontend';
      const at = new provider.AccessToken({
        client: await client(clientId),
        accountId: user.sub,
        grantId: await grantFor(user, clientId),
        gty: 'authorization_code',
        scope: 'openid email profile',
        ...(o.expiresIn ? { expiresIn: o.expiresIn } : {}),
      } as never);
      return at.save();
    },
    async jwtToken(user, o = {}) {
      const clientId = o.clientId ?? 'frontend';
      const at = new provider.AccessToken({
        client: await client(clientId),
        accountId: user.sub,
        grantId: await grantFor(user, clientId),
        gty: 'authorization_code',
        scope: o.scope ?? 'api',
        resourceServer: new provider.ResourceServer(API_RESOURCE, resourceInfo),
        ...(o.expiresIn ? { expiresIn: o.expiresIn } : {}),
      } as never);
      return at.save();
    },
    async revoke(token) {
      const at = await provider.AccessToken.find(token);
      await at?.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function newSigningKey(alg: 'ES256' | 'RS256' | 'EdDSA' = 'ES256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 10)}` };
}
