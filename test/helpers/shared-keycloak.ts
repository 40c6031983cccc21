/**
 * Part of the e2e global setup (test/helpers/e2e-global-setup.ts, scripts/test.sh): one
 * Keycloak container for every e2e file that calls startKeycloak() without a container network,
 * instead of one per file (~20 s each here). The container is published to the test processes in
 * SHARED_KEYCLOAK_ENV and removed by the global teardown.
 *
 * Suites sharing it run one after another (--test-concurrency=1) and must leave the realm usable for
 * the next: they may add users' sessions, log users out, add signing keys, stop and start the container
 * (keycloak.test.ts does all of these), but not change realm-wide settings such as the frontend URL
 * (image.test.ts does, on its own container). AUTHJWT_TEST_SHARED_KEYCLOAK=off: one container per file.
 *
 * When no container runtime is reachable nothing is started: each suite then fails (CI) or skips on
 * its own, exactly as without the global setup. Any other start failure is reported and also left
 * to the suites, which try their own container.
 */
import { NoContainerRuntimeError, SHARED_KEYCLOAK_ENV, startKeycloak, type RunningKeycloak } from './keycloak.ts';

let kc: RunningKeycloak | undefined;

export async function startSharedKeycloak(): Promise<void> {
  if (process.env[SHARED_KEYCLOAK_ENV] === 'off') {
    delete process.env[SHARED_KEYCLOAK_ENV];
    return;
  }
  delete process.env[SHARED_KEYCLOAK_ENV];
  try {
    kc = await startKeycloak();
  } catch (error) {
    if (!(error instanceof NoContainerRuntimeError))
      console.warn(`# shared Keycloak did not start (${(error as Error).message}); suites start their own`);
    return;
  }
  const port = Number(new URL(kc.baseUrl).port);
  process.env[SHARED_KEYCLOAK_ENV] = JSON.stringify({ id: kc.containerId, hostPort: port });
  console.log(`# shared Keycloak for the e2e suites ready in ${(kc.startupMs / 1000).toFixed(1)}s at ${kc.issuer}`);
}

export async function stopSharedKeycloak(): Promise<void> {
  await kc?.close();
}
