/** Starts authjwt in-process on loopback (real gRPC and HTTP servers) and talks to it like a client. */
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { startApp, type App, type AppOptions } from '../../src/app.ts';
import { buildConfig, loadConfigFile, type Config } from '../../src/config/load.ts';
import type { AuthAPIClient } from '../../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto } from '../../src/grpc/proto.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { freePort } from './net.ts';

export interface Account {
  provider: string;
  type: string;
  providerAccountId: string;
  accessToken: string;
}

export type CallResult = {
  code: GrpcStatus;
  token?: string;
  details?: string;
  /** Trailers of a failed call (`grpc-status-details-bin`...). */
  metadata?: Metadata;
};

export interface RunningAuthJwt {
  app: App;
  config: Config;
  client: AuthAPIClient;
  /** Every log line written so far (JSON text). */
  logs: string[];
  httpUrl: string;
  getJwt(account: Partial<Account> | undefined, options?: { deadlineMs?: number; metadata?: Metadata }): Promise<CallResult>;
  /** Verifies a minted token with jose against the JWKS found through the discovery document. */
  verify(token: string): Promise<{ payload: JWTPayload; protectedHeader: JWTHeaderParameters }>;
  stop(): Promise<void>;
}

/** Starts authjwt from a raw config object (loopback listeners and an ephemeral key by default). */
export async function startAuthJwt(raw: Record<string, unknown>, options: Partial<AppOptions> = {}): Promise<RunningAuthJwt> {
  const httpPort = await freePort();
  const issuer = (raw.issuer as string | undefined) ?? `http://127.0.0.1:${httpPort}`;
  const config = buildConfig({
    issuer,
    audience: ['internal-services'],
    keys: { ephemeral: true },
    ...raw,
    grpc: { listen: '127.0.0.1:0', ...(raw.grpc as object) },
    http: { listen: `127.0.0.1:${httpPort}`, ...(raw.http as object) },
    internalHttp: { listen: '127.0.0.1:0', ...(raw.internalHttp as object) },
  });
  return startAuthJwtWithConfig(config, options);
}

/** Starts authjwt from a YAML config file, exactly as `npm start -- --config FILE` would load it. */
export async function startAuthJwtFromFile(file: string, options: Partial<AppOptions> = {}): Promise<RunningAuthJwt> {
  return startAuthJwtWithConfig(loadConfigFile(file), options);
}

export async function startAuthJwtWithConfig(config: Config, options: Partial<AppOptions> = {}): Promise<RunningAuthJwt> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = options.logger ?? createLogger({ level: 'debug', destination: sink as never });
  const app = await startApp(config, { ...options, logger });
  const proto = loadAuthProto();
  const client = new proto.auth.v1alpha1.AuthAPI(`127.0.0.1:${app.grpcPort}`, credentials.createInsecure()) as AuthAPIClient;
  const httpUrl = `http://127.0.0.1:${app.httpPort}`;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  return {
    app,
    config,
    client,
    logs,
    httpUrl,
    getJwt(account, o = {}) {
      return new Promise<CallResult>((resolve) => {
        const deadline = new Date(Date.now() + (o.deadlineMs ?? 15_000));
        client.GetJWT(account === undefined ? {} : { account }, o.metadata ?? new Metadata(), { deadline }, (err, res) => {
          if (err) {
            const e = err as ServiceError;
            resolve({ code: e.code, details: e.details, metadata: e.metadata });
          } else resolve({ code: GrpcStatus.OK, token: res!.token });
        });
      });
    },
    async verify(token) {
      if (!jwks) {
        const discovery = (await (await fetch(`${httpUrl}/.well-known/openid-configuration`)).json()) as {
          issuer: string;
          jwks_uri: string;
        };
        if (discovery.issuer !== config.issuer) throw new Error(`discovery issuer ${discovery.issuer} != ${config.issuer}`);
        jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { cooldownDuration: 0 });
      }
      return jwtVerify(token, jwks, { issuer: config.issuer, audience: config.audience as string[] });
    },
    async stop() {
      client.close();
      await app.stop(2_000);
    },
  };
}
