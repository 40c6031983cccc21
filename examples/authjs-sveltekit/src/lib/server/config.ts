/**
 * The example's configuration, from environment variables (read at request time through
 * `$env/dynamic/private`, so one build runs anywhere). Auth.js itself reads AUTH_SECRET and AUTH_URL;
 * adapter-node reads ORIGIN, HOST and PORT. See README.md for the full list.
 */
import { env } from '$env/dynamic/private';

export interface ExampleConfig {
  keycloak: { issuer: string; clientId: string; clientSecret: string };
  authjwt: {
    /** host:port of authjwt's gRPC listener. */
    address: string;
    /** TLS to authjwt: off, on with the system CAs, or on with this CA bundle. */
    tls: false | { caFile?: string };
    /** Deadline of each GetJWT call. */
    timeoutMs: number;
  };
  /** Refresh the provider token (and re-mint) this long before it expires. */
  refreshMarginSeconds: number;
  /** DEVELOPMENT ONLY: enables /dev/* routes that hand the minted token to the caller. */
  devRoutes: boolean;
}

function required(name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is required (see examples/authjs-sveltekit/README.md)`);
  return value;
}

function seconds(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`environment variable ${name} must be a whole number of seconds, got "${raw}"`);
  return n;
}

export function exampleConfig(): ExampleConfig {
  const tls = env.AUTHJWT_GRPC_TLS === 'true' || Boolean(env.AUTHJWT_GRPC_CA_FILE);
  return {
    keycloak: {
      issuer: required('KEYCLOAK_ISSUER'),
      clientId: required('KEYCLOAK_CLIENT_ID'),
      clientSecret: required('KEYCLOAK_CLIENT_SECRET'),
    },
    authjwt: {
      address: env.AUTHJWT_GRPC_ADDR || '127.0.0.1:50051',
      tls: tls ? (env.AUTHJWT_GRPC_CA_FILE ? { caFile: env.AUTHJWT_GRPC_CA_FILE } : {}) : false,
      timeoutMs: seconds('AUTHJWT_TIMEOUT_SECONDS', 10) * 1000,
    },
    refreshMarginSeconds: seconds('AUTH_REFRESH_MARGIN_SECONDS', 60),
    devRoutes: env.AUTHJWT_EXAMPLE_DEV_ROUTES === 'true',
  };
}
