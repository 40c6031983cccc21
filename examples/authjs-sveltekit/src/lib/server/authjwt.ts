/**
 * The call to authjwt: `auth.v1alpha1.AuthAPI/GetJWT` through protobuf-ts's gRPC transport, with the
 * client generated from proto/auth/v1alpha1/auth.proto (src/lib/gen, `npm run gen`). Server-side only:
 * `$lib/server` modules can never be imported by browser code (SvelteKit refuses to build it).
 */
import { readFileSync } from 'node:fs';
import { ChannelCredentials } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import type { Account as AuthJsAccount } from '@auth/core/types';
import { AuthAPIClient } from '$lib/gen/auth/v1alpha1/auth.client';
import type { Account } from '$lib/gen/auth/v1alpha1/auth';
import type { ExampleConfig } from './config';

/** What GetJWT needs from an Auth.js account, in the generated client's field names. */
export type UpstreamAccount = Account;

/**
 * Auth.js names the token `access_token` (OAuth's snake case); the generated client calls the proto
 * field `access_token` `accessToken`. Passing the Auth.js account as-is would send an empty access token.
 */
export function toUpstreamAccount(account: AuthJsAccount): UpstreamAccount {
  if (!account.access_token) throw new Error(`Auth.js account of provider ${account.provider} has no access_token`);
  return {
    provider: account.provider, // the Auth.js provider id: authjwt must have a provider with this id
    type: account.type, // "oidc" for Keycloak in Auth.js v5 ("oauth" in next-auth v4)
    providerAccountId: account.providerAccountId, // the OIDC `sub` for Keycloak
    accessToken: account.access_token,
  };
}

export type GetJwtResult = { ok: true; token: string } | { ok: false; code: string; details: string };

let cached: { key: string; client: AuthAPIClient } | undefined;

function client(config: ExampleConfig['authjwt']): AuthAPIClient {
  const key = JSON.stringify([config.address, config.tls]);
  if (cached?.key !== key) {
    const channelCredentials =
      config.tls === false
        ? ChannelCredentials.createInsecure()
        : ChannelCredentials.createSsl(config.tls.caFile ? readFileSync(config.tls.caFile) : null);
    cached = { key, client: new AuthAPIClient(new GrpcTransport({ host: config.address, channelCredentials })) };
  }
  return cached.client;
}

/**
 * Exchanges the provider account for an authjwt token. gRPC failures come back as values (the status
 * name and authjwt's fixed message, e.g. UNAUTHENTICATED "ACCOUNT_MISMATCH: ..."): never a token.
 */
export async function getJwt(config: ExampleConfig['authjwt'], account: UpstreamAccount): Promise<GetJwtResult> {
  try {
    const { response } = await client(config).getJWT({ account }, { timeout: config.timeoutMs });
    return { ok: true, token: response.token };
  } catch (error) {
    if (error instanceof RpcError) return { ok: false, code: error.code, details: error.message };
    throw error;
  }
}

/**
 * The claims of a token authjwt has just returned to this server, for
 * display. Not a verification: services that RECEIVE the token verify it against authjwt's JWKS.
 */
export function decodeClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (!payload) throw new Error('GetJWT returned something that is not a JWS');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}
