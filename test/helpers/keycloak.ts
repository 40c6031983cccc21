/**
 * A real Keycloak in a container (testcontainers), with the realm from test/fixtures. Image from
 * KEYCLOAK_IMAGE (default: the official image, pulled by Docker; offline machines build a local one
 * with .ci/images.sh, see docs/testing.md).
 *
 * Shared container: `sh scripts/test.sh e2e` runs node --test with
 * `--test-global-setup=test/helpers/e2e-global-setup.ts`, which (shared-keycloak.ts) starts ONE
 * Keycloak before the e2e files and publishes it in SHARED_KEYCLOAK_ENV. startKeycloak() without a network then attaches to it
 * instead of starting its own (each file runs in its own process); close() leaves it running for the
 * next file. Suites that need their own container network (image.test.ts) still get their own.
 */
import { fileURLToPath } from 'node:url';
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { freePort } from './net.ts';
import { version } from './versions.ts';
import { waitFor } from './wait-for.ts';

export const KEYCLOAK_VERSION = version('KEYCLOAK_VERSION');
export const KEYCLOAK_IMAGE = process.env.KEYCLOAK_IMAGE ?? `quay.io/keycloak/keycloak:${KEYCLOAK_VERSION}`;
export const REALM = 'authjwt-test';
export const REALM_FILE = fileURLToPath(new URL('../fixtures/keycloak-realm.json', import.meta.url));
/** The confidential client authjwt uses for introspection (secret from the realm fixture). */
export const KC_INTROSPECTION = { clientId: 'authjwt', secret: 'authjwt-test-secret' };
/** Environment variable through which the global setup publishes the shared container ({id, hostPort}). */
export const SHARED_KEYCLOAK_ENV = 'AUTHJWT_TEST_SHARED_KEYCLOAK';

export interface RunningKeycloak {
  containerId: string;
  /** true when attached to the container of the e2e run's global setup (close() then keeps it). */
  shared: boolean;
  baseUrl: string;
  issuer: string;
  startupMs: number;
  /** Password grant for a realm user through a public client with direct access grants. */
  userToken(username: string, password: string, clientId?: string): Promise<TokenSet>;
  /** Admin REST API call (master realm admin, token refreshed per call). */
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** Stops the container (kept, not removed) and starts it again later on the same host port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Removes the container; a shared one is left to the global teardown. */
  close(): Promise<void>;
}

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
}

/**
 * Thrown when no container runtime is reachable. Callers skip locally, but must FAIL when CI is set
 * (a skipped container suite is never counted as passing in CI).
 */
export class NoContainerRuntimeError extends Error {}

export async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/**
 * `host`: the address the test reaches the published port at, and so the one token issuers name
 * (Keycloak derives `iss` from the request). Default 127.0.0.1; the Kubernetes suites use the node
 * address, which pods of the test cluster reach too, so tokens fetched by the test and discovery done
 * by authjwt in a pod name the same issuer.
 */
export async function startKeycloak(
  options: {
    network?: StartedNetwork;
    alias?: string;
    host?: string /** CPU limit of the container (`--cpus`; the bench). */;
    cpus?: number;
  } = {},
): Promise<RunningKeycloak> {
  const shared = process.env[SHARED_KEYCLOAK_ENV];
  if (shared && !options.network) return attachKeycloak(JSON.parse(shared) as SharedKeycloak, options.host);
  if (!(await containerRuntimeAvailable())) {
    throw new NoContainerRuntimeError('no container runtime (Docker, or podman via DOCKER_HOST) is reachable; see docs/testing.md');
  }
  // A fixed host port: the issuer (and so every token's iss) must survive a stop/start.
  const hostPort = await freePort();
  const started = Date.now();
  let builder = new GenericContainer(KEYCLOAK_IMAGE)
    .withEnvironment({
      KC_BOOTSTRAP_ADMIN_USERNAME: 'admin',
      KC_BOOTSTRAP_ADMIN_PASSWORD: 'admin',
      KC_HEALTH_ENABLED: 'true',
      JAVA_OPTS_KC_HEAP: '-XX:MaxRAMPercentage=50 -XX:InitialRAMPercentage=10',
    })
    .withCopyFilesToContainer([{ source: REALM_FILE, target: '/opt/keycloak/data/import/realm.json', mode: 0o644 }])
    .withCommand(['start-dev', '--import-realm'])
    .withExposedPorts({ container: 8080, host: hostPort })
    .withWaitStrategy(Wait.forHttp(`/realms/${REALM}/.well-known/openid-configuration`, 8080).forStatusCode(200))
    .withStartupTimeout(300_000);
  if (options.cpus !== undefined) builder = builder.withResourcesQuota({ cpu: options.cpus });
  if (options.network) builder = builder.withNetwork(options.network).withNetworkAliases(options.alias ?? 'keycloak');
  let container: StartedTestContainer;
  try {
    container = await builder.start();
  } catch (error) {
    // Seen once on a loaded 2-core machine: podman reported the port binding late. One retry.
    if (!/ports to be bound/.test(String(error))) throw error;
    console.warn(`# Keycloak start: ${(error as Error).message}; retrying once`);
    container = await builder.start();
  }
  return keycloakHandle({ id: container.getId(), hostPort }, Date.now() - started, () => container.stop({ timeout: 5 }), options.host);
}

/** What the global setup publishes about the shared container. */
export interface SharedKeycloak {
  id: string;
  hostPort: number;
}

async function attachKeycloak(shared: SharedKeycloak, host?: string): Promise<RunningKeycloak> {
  const kc = await keycloakHandle(shared, 0, undefined, host);
  await kc.start(); // no-op when running (a suite may have left it stopped); waits until the realm answers
  return kc;
}

async function keycloakHandle(
  ref: SharedKeycloak,
  startupMs: number,
  remove: (() => Promise<unknown>) | undefined,
  host = '127.0.0.1',
): Promise<RunningKeycloak> {
  const baseUrl = `http://${host}:${ref.hostPort}`;
  const issuer = `${baseUrl}/realms/${REALM}`;
  const form = (data: Record<string, string>) => new URLSearchParams(data).toString();
  const tokenRequest = async (realm: string, data: Record<string, string>): Promise<TokenSet> => {
    const res = await fetch(`${baseUrl}/realms/${realm}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form(data),
    });
    if (!res.ok) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as TokenSet;
  };
  const answers = async () => (await fetch(`${issuer}/.well-known/openid-configuration`).catch(() => undefined))?.ok;
  const waitReady = () => waitFor(answers, { what: 'Keycloak to come back', timeout: 180_000, interval: 500 });
  const runtime = await getContainerRuntimeClient();
  const raw = runtime.container.getById(ref.id);

  return {
    containerId: ref.id,
    shared: remove === undefined,
    baseUrl,
    issuer,
    startupMs,
    userToken: (username, password, clientId = 'frontend') =>
      tokenRequest(REALM, { grant_type: 'password', client_id: clientId, username, password, scope: 'openid email profile' }),
    async admin(method, path, body) {
      const { access_token } = await tokenRequest('master', {
        grant_type: 'password',
        client_id: 'admin-cli',
        username: 'admin',
        password: 'admin',
      });
      return fetch(`${baseUrl}/admin/realms/${REALM}${path}`, {
        method,
        headers: { authorization: `Bearer ${access_token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    },
    stop: () => runtime.container.stop(raw, { timeout: 10 }),
    async start() {
      const state = (await runtime.container.inspect(raw)).State;
      if (!state.Running) await runtime.container.start(raw);
      await waitReady();
    },
    close: async () => {
      await remove?.();
    },
  };
}
