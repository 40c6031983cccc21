/**
 * `npm run demo`: first contact with authjwt, end to end on loopback.
 * 1. starts a real OIDC provider (the `oidc-provider` package) with a user "alice";
 * 2. signs alice in with the authorization-code flow + PKCE (what Auth.js does), getting a real
 *    access token from the provider's token endpoint;
 * 3. starts authjwt configured for that provider (strategy auto: the opaque token is introspected),
 *    calls AuthAPI/GetJWT over gRPC with the Account;
 * 4. verifies the minted JWT with jose against the JWKS found via authjwt's discovery document and
 *    prints the decoded header and claims.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import Provider from 'oidc-provider';
import { startApp } from '../src/app.ts';
import { buildConfig } from '../src/config/load.ts';
import type { AuthAPIClient } from '../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto } from '../src/grpc/proto.ts';
import { createLogger } from '../src/telemetry/logger.ts';

const step = (n: number, text: string) => console.log(`\n\x1b[1m[${n}] ${text}\x1b[0m`);

// 1. The OIDC provider.
const opServer = createServer();
await new Promise<void>((r) => opServer.listen(0, '127.0.0.1', r));
const opIssuer = `http://127.0.0.1:${(opServer.address() as AddressInfo).port}`;
const redirectUri = 'http://127.0.0.1/callback';
const provider = new Provider(opIssuer, {
  clients: [
    {
      client_id: 'frontend',
      token_endpoint_auth_method: 'none',
      redirect_uris: [redirectUri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
    },
    // authjwt's own confidential client, used for RFC 7662 introspection.
    { client_id: 'authjwt', client_secret: 'demo-introspection-secret', redirect_uris: [], response_types: [], grant_types: [] },
  ],
  features: { devInteractions: { enabled: true }, introspection: { enabled: true, allowedPolicy: async () => true } },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true, name: 'Alice Liddell', preferred_username: id }),
  }),
  // The demo user consents to everything the frontend asks for.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  ttl: { Grant: 600, Session: 600, AccessToken: 600, Interaction: 600, IdToken: 600, AuthorizationCode: 60 },
});
provider.on('server_error', (_ctx, err) => console.error(err));
opServer.on('request', provider.callback());
step(1, `OIDC provider running at ${opIssuer}`);

// 2. Sign alice in: authorization code + PKCE, driving the provider's login form like a browser.
const config = await client.discovery(new URL(opIssuer), 'frontend', undefined, client.None(), { execute: [client.allowInsecureRequests] });
const verifier = client.randomPKCECodeVerifier();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid email profile',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
});
const jar = new Map<string, string>();
const browse = async (url: string, init: RequestInit = {}): Promise<Response> => {
  const res = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...init.headers, cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
  });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const [k, v] = pair!.split('=');
    jar.set(k!, v ?? '');
  }
  return res;
};
let res = await browse(authUrl.href);
let location = res.headers.get('location')!;
for (let hops = 0; !location.startsWith(redirectUri) && hops < 10; hops++) {
  const url = new URL(location, opIssuer).href;
  res = await browse(url);
  if (res.status === 200) {
    // The dev login form: submit it as alice (devInteractions accept any password).
    const action = /action="([^"]+)"/.exec(await res.text())![1]!;
    res = await browse(new URL(action, opIssuer).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'prompt=login&login=alice&password=demo',
    });
  }
  location = res.headers.get('location')!;
}
const tokens = await client.authorizationCodeGrant(config, new URL(location), {
  pkceCodeVerifier: verifier,
  expectedState: client.skipStateCheck,
});
const claims = tokens.claims()!;
const account = { provider: 'demo-idp', type: 'oidc', providerAccountId: claims.sub, accessToken: tokens.access_token };
step(
  2,
  `alice signed in; the frontend holds Account { provider: "demo-idp", type: "oidc", provider_account_id: "${claims.sub}", access_token: <${tokens.access_token.length} chars, not shown> }`,
);

// 3. authjwt, configured for that provider, and a GetJWT call.
const probe = createServer();
await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
const httpPort = (probe.address() as AddressInfo).port;
await new Promise((r) => probe.close(r));
const authjwtConfig = buildConfig({
  issuer: `http://127.0.0.1:${httpPort}`,
  audience: ['internal-services'],
  keys: { ephemeral: true },
  grpc: { listen: '127.0.0.1:0' },
  http: { listen: `127.0.0.1:${httpPort}` },
  providers: [
    {
      id: 'demo-idp',
      type: 'oidc',
      issuer: opIssuer,
      audiences: ['frontend'],
      verification: 'auto',
      clientId: 'authjwt',
      clientSecret: 'demo-introspection-secret',
    },
  ],
});
const app = await startApp(authjwtConfig, { logger: createLogger({ level: 'silent' }) });
const httpBase = `http://127.0.0.1:${app.httpPort}`;
const proto = loadAuthProto();
const grpcClient = new proto.auth.v1alpha1.AuthAPI(`127.0.0.1:${app.grpcPort}`, credentials.createInsecure()) as AuthAPIClient;
const minted = await new Promise<string>((resolve, reject) =>
  grpcClient.GetJWT({ account }, new Metadata(), (err, r) => (err ? reject(err) : resolve(r!.token!))),
);
step(
  3,
  `authjwt (gRPC 127.0.0.1:${app.grpcPort}) proved the (opaque) token by RFC 7662 introspection, checked it was issued to "frontend" for that account, and returned a JWT of ${minted.length} chars`,
);

// 4. Verify like a gateway: discovery → jwks_uri → signature and claims.
const discovery = (await (await fetch(`${httpBase}/.well-known/openid-configuration`)).json()) as { jwks_uri: string; issuer: string };
const jwksUrl = new URL(discovery.jwks_uri);
const { payload, protectedHeader } = await jwtVerify(minted, createRemoteJWKSet(jwksUrl), {
  issuer: discovery.issuer,
  audience: 'internal-services',
});
step(4, `verified with jose against ${jwksUrl.href}`);
console.log('header:', JSON.stringify(protectedHeader, null, 2));
console.log('claims:', JSON.stringify(payload, null, 2));

grpcClient.close();
await app.stop(1_000);
opServer.close();
opServer.closeAllConnections();
console.log('\n\x1b[32mdemo OK\x1b[0m');
