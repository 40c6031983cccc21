/**
 * The built container image (.ci/authjwt-image.sh), run the way a hardened cluster runs it:
 * read-only root filesystem WITHOUT any writable tmpfs, uid/gid 10001, every capability dropped,
 * no-new-privileges; signing keys and a provider client secret mounted read-only in the Kubernetes
 * Secret volume layout (`..<timestamp>/`, `..data -> ..<timestamp>`, `key.pem -> ..data/key.pem`),
 * next to a real Keycloak on one container network. GetJWT is called from the host, the token is
 * verified against the container's own JWKS, and SIGTERM must drain and exit 0.
 *
 * Issuer across the network boundary: Keycloak derives `iss` from the request's Host unless a
 * frontend URL is set. The test fetches user tokens from the host (127.0.0.1:<port>) while authjwt
 * reaches Keycloak inside the network as http://keycloak:8080, so the test sets the realm's
 * `frontendUrl` attribute to http://keycloak:8080 (admin API): every token then carries
 * iss = http://keycloak:8080/realms/authjwt-test, whichever address issued it, and discovery served
 * to authjwt inside the network names the same issuer. Nothing host-specific leaks into authjwt's config.
 *
 * Image: AUTHJWT_IMAGE (default localhost/authjwt/authjwt:dev, the stable tag of .ci/authjwt-image.sh).
 * No container runtime or no image: FAILS with CI set, skips loudly otherwise.
 */
import { credentials, makeGenericClientConstructor, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, exportJWK, jwtVerify, type JSONWebKeySet } from 'jose';
import {
  GenericContainer,
  getContainerRuntimeClient,
  ImageName,
  Network,
  Wait,
  type StartedNetwork,
  type StartedTestContainer,
} from 'testcontainers';
import type { AuthAPIClient } from '../../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto } from '../../src/grpc/proto.ts';
import { helmBin, parseManifests } from '../helpers/k8s-validate.ts';
import { KC_INTROSPECTION, NoContainerRuntimeError, REALM, startKeycloak, type RunningKeycloak } from '../helpers/keycloak.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';

export const AUTHJWT_IMAGE = process.env.AUTHJWT_IMAGE ?? 'localhost/authjwt/authjwt:dev';
const KC_ALIAS = 'keycloak';
const KC_INTERNAL_ISSUER = `http://${KC_ALIAS}:8080/realms/${REALM}`;
const ISSUER = 'http://authjwt.test:8080';
const KEYS_DIR = '/var/run/secrets/authjwt/keys';
const PROVIDER_SECRET_DIR = '/var/run/secrets/authjwt/providers/keycloak';

/** testcontainers 12 has no read-only-rootfs option: set the Docker API's HostConfig field. */
class HardenedContainer extends GenericContainer {
  withReadOnlyRootFilesystem(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }
}

/** Writes `files` into `dir` the way the kubelet lays out a Secret volume (one revision). */
function writeSecretVolume(dir: string, files: Record<string, string>): void {
  const revision = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}`;
  mkdirSync(join(dir, revision), { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, revision, name), content, { mode: 0o444 });
  symlinkSync(revision, join(dir, '..data'));
  for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name));
  // readable by uid 10001 (the kubelet uses defaultMode 0644 / fsGroup); never writable
  chmodSync(join(dir, revision), 0o555);
  chmodSync(dir, 0o555);
}

describe(`container image (${AUTHJWT_IMAGE})`, () => {
  let skipReason: string | undefined;
  let network: StartedNetwork | undefined;
  let kc: RunningKeycloak | undefined;
  let authjwt: StartedTestContainer | undefined;
  let dir: string | undefined;
  let expectedKid: string;
  let grpcTarget: string;
  let httpUrl: string;
  let client: AuthAPIClient;
  const logs: string[] = [];

  before(async () => {
    const fail = (reason: string) => {
      skipReason = missingPrerequisite('container image e2e suite', reason);
    };
    let runtime: Awaited<ReturnType<typeof getContainerRuntimeClient>>;
    try {
      runtime = await getContainerRuntimeClient();
    } catch {
      return fail('no container runtime (Docker, or podman via DOCKER_HOST) is reachable; see docs/testing.md');
    }
    if (!(await runtime.image.exists(ImageName.fromString(AUTHJWT_IMAGE)))) {
      return fail(`image ${AUTHJWT_IMAGE} not found: build it with .ci/authjwt-image.sh (or set AUTHJWT_IMAGE)`);
    }

    // Secret volumes, generated here and never committed.
    dir = mkdtempSync(join(tmpdir(), 'authjwt-image-'));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expectedKid = await calculateJwkThumbprint(await exportJWK(publicKey));
    writeSecretVolume(join(dir, 'keys'), { 'key.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }) as string });
    writeSecretVolume(join(dir, 'provider'), { 'client-secret': `${KC_INTROSPECTION.secret}\n` });
    mkdirSync(join(dir, 'config'));
    writeFileSync(
      join(dir, 'config', 'config.yaml'),
      `# written by test/e2e/image.test.ts
issuer: ${ISSUER}
audience: [internal-services]
grpc: { listen: "0.0.0.0:50051", plaintext: true }
http: { listen: "0.0.0.0:8080" }
keys: { dir: ${KEYS_DIR} }
shutdownGrace: 10s
logging: { level: debug }
providers:
  - id: keycloak
    type: oidc
    issuer: ${KC_INTERNAL_ISSUER}
    allowHttp: true
    audiences: [frontend]
    verification: jwt
  - id: keycloak-introspection
    type: oidc
    issuer: ${KC_INTERNAL_ISSUER}
    allowHttp: true
    audiences: [frontend]
    verification: introspection
    clientId: ${KC_INTROSPECTION.clientId}
    clientSecretFile: ${PROVIDER_SECRET_DIR}/client-secret
`,
      { mode: 0o444 },
    );
    chmodSync(dir, 0o755);

    network = await new Network().start();
    try {
      kc = await startKeycloak({ network, alias: KC_ALIAS });
    } catch (error) {
      if (error instanceof NoContainerRuntimeError) return fail(error.message);
      throw error;
    }
    // One issuer for tokens fetched from the host and for discovery inside the network (see top).
    const res = await kc.admin('PUT', '', { attributes: { frontendUrl: `http://${KC_ALIAS}:8080` } });
    assert.ok(res.ok, `setting the realm frontendUrl failed: ${res.status} ${await res.text()}`);

    const started = Date.now();
    authjwt = await new HardenedContainer(AUTHJWT_IMAGE)
      .withReadOnlyRootFilesystem()
      // podman adds WRITABLE tmpfs mounts at /tmp, /var/tmp and /run to read-only containers (its
      // read_only_tmpfs default); Docker adds none. Read-only tmpfs there makes both runtimes behave
      // like a pod with readOnlyRootFilesystem and no emptyDir: proof that authjwt writes nothing.
      .withTmpFs({ '/tmp': 'ro,size=64k', '/var/tmp': 'ro,size=64k', '/run': 'ro,size=64k' })
      .withUser('10001:10001')
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withNetwork(network)
      // also the Service DNS name the chart's `helm test` Pod uses (release authjwt, namespace auth)
      .withNetworkAliases('authjwt', 'authjwt.auth.svc')
      .withBindMounts([
        { source: join(dir, 'config'), target: '/etc/authjwt', mode: 'ro' },
        { source: join(dir, 'keys'), target: KEYS_DIR, mode: 'ro' },
        { source: join(dir, 'provider'), target: PROVIDER_SECRET_DIR, mode: 'ro' },
      ])
      .withExposedPorts(50051, 8080)
      .withLogConsumer((stream) => stream.on('data', (chunk: Buffer | string) => logs.push(String(chunk))))
      .withWaitStrategy(Wait.forHttp('/readyz', 8080).forStatusCode(200))
      .withStartupTimeout(60_000)
      .start();
    console.log(`# authjwt container ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    grpcTarget = `${authjwt.getHost()}:${authjwt.getMappedPort(50051)}`;
    httpUrl = `http://${authjwt.getHost()}:${authjwt.getMappedPort(8080)}`;
    const proto = loadAuthProto();
    client = new proto.auth.v1alpha1.AuthAPI(grpcTarget, credentials.createInsecure()) as AuthAPIClient;
  });

  after(async () => {
    client?.close();
    await authjwt?.stop({ timeout: 10_000 }).catch(() => undefined);
    await kc?.close().catch(() => undefined);
    await network?.stop().catch(() => undefined);
    if (dir) {
      chmodSync(dir, 0o755);
      for (const d of ['keys', 'provider']) {
        try {
          chmodSync(join(dir, d), 0o755);
        } catch {
          /* not created */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
    if (logs.length && process.env.AUTHJWT_E2E_LOGS) console.log(logs.join(''));
  });

  const getJwt = (provider: string, accessToken: string, providerAccountId: string) =>
    new Promise<{ code: status; token?: string; details?: string }>((resolve) => {
      client.GetJWT(
        { account: { provider, type: 'oidc', providerAccountId, accessToken } },
        new Metadata(),
        { deadline: new Date(Date.now() + 15_000) },
        (err, res) =>
          resolve(
            err ? { code: (err as ServiceError).code, details: (err as ServiceError).details } : { code: status.OK, token: res!.token },
          ),
      );
    });

  it('image: numeric non-root user, exec-form entrypoint on the compiled output, OCI labels', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const info = await (await getContainerRuntimeClient()).image.inspect(ImageName.fromString(AUTHJWT_IMAGE));
    assert.equal(info.Config.User, '10001:10001');
    assert.deepEqual(info.Config.Entrypoint, ['node', '--import', '/app/dist/telemetry/tracing.js', '/app/dist/main.js']);
    assert.ok(!info.Config.Cmd?.length, `no CMD expected, got ${JSON.stringify(info.Config.Cmd)}`);
    assert.ok(info.Config.Env.includes('AUTHJWT_CONFIG=/etc/authjwt/config.yaml'));
    const labels = info.Config.Labels ?? {};
    assert.equal(labels['org.opencontainers.image.title'], 'authjwt');
    assert.match(labels['org.opencontainers.image.version'] ?? '', /^\d+\.\d+\.\d+/);
    assert.ok(labels['org.opencontainers.image.revision'], 'revision label');
    assert.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0');
    console.log(`# image size ${(info.Size / 1e6).toFixed(1)} MB`);
  });

  it('runs hardened: uid/gid 10001 as PID 1, no capabilities, no new privileges, nothing writable', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const script = `
      const fs = require('node:fs');
      const status = fs.readFileSync('/proc/1/status', 'utf8');
      const field = (n) => status.split('\\n').find((l) => l.startsWith(n + ':')).split(/\\s+/).slice(1).join(' ');
      const writable = ['/', '/app', '/tmp', '/var/tmp', '/run', '/etc/authjwt', '${KEYS_DIR}'].filter((d) => {
        try { fs.writeFileSync(d + '/.probe', 'x'); return true; } catch { return false; }
      });
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), pid1: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').join(' ').trim(),
        capEff: field('CapEff'), noNewPrivs: field('NoNewPrivs'), writable }));`;
    const res = await authjwt!.exec(['node', '-e', script]);
    assert.equal(res.exitCode, 0, res.output);
    const got = JSON.parse(res.stdout.trim()) as {
      uid: number;
      gid: number;
      pid1: string;
      capEff: string;
      noNewPrivs: string;
      writable: string[];
    };
    assert.equal(got.uid, 10001);
    assert.equal(got.gid, 10001);
    assert.equal(got.pid1, 'node --import /app/dist/telemetry/tracing.js /app/dist/main.js');
    assert.equal(BigInt(`0x${got.capEff}`), 0n, `effective capabilities ${got.capEff}`);
    assert.equal(got.noNewPrivs, '1');
    assert.deepEqual(got.writable, [], 'no directory may be writable (read-only rootfs, no tmpfs)');
  });

  it('gRPC health: SERVING for "" and auth.v1alpha1.AuthAPI (what the chart probes)', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const Health = makeGenericClientConstructor(healthService, 'Health');
    const health = new Health(grpcTarget, credentials.createInsecure());
    try {
      for (const service of ['', 'auth.v1alpha1.AuthAPI']) {
        const res = await new Promise<{ status: string | number }>((resolve, reject) =>
          health.makeUnaryRequest(
            '/grpc.health.v1.Health/Check',
            (v: { service: string }) => healthService.Check!.requestSerialize(v),
            (b: Buffer) => healthService.Check!.responseDeserialize(b) as { status: string | number },
            { service },
            (err, value) => (err ? reject(err) : resolve(value!)),
          ),
        );
        assert.ok(res.status === 'SERVING' || res.status === 1, `${service || '""'}: ${JSON.stringify(res)}`);
      }
    } finally {
      health.close();
    }
  });

  it('GetJWT from the host with a Keycloak token (jwt and introspection) → token verifies against the container JWKS', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token } = await kc!.userToken('alice', 'alice');
    const upstream = decodeJwt(access_token);
    assert.equal(upstream.iss, KC_INTERNAL_ISSUER, 'frontendUrl makes host-fetched tokens carry the in-network issuer');
    const jwksRes = await fetch(`${httpUrl}/.well-known/jwks.json`);
    assert.equal(jwksRes.status, 200);
    const jwks = (await jwksRes.json()) as JSONWebKeySet;
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      [expectedKid],
      'the JWKS publishes exactly the mounted key',
    );
    const discovery = (await (await fetch(`${httpUrl}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    assert.equal(discovery.issuer, ISSUER);
    assert.equal(discovery.jwks_uri, `${ISSUER}/.well-known/jwks.json`);

    for (const provider of ['keycloak', 'keycloak-introspection']) {
      const res = await getJwt(provider, access_token, upstream.sub!);
      assert.equal(res.code, status.OK, `${provider}: ${res.details}`);
      const { payload, protectedHeader } = await jwtVerify(res.token!, createLocalJWKSet(jwks), {
        issuer: ISSUER,
        audience: 'internal-services',
      });
      assert.equal(protectedHeader.kid, expectedKid);
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(payload.sub, `${provider}:${upstream.sub}`);
      assert.equal(payload.provider, provider);
    }
    const wrong = await getJwt('keycloak', access_token, 'someone-else');
    assert.equal(wrong.code, status.UNAUTHENTICATED);
  });

  it("the chart's `helm test` Pod script passes against this container (same image, hardened)", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const helm = helmBin();
    if (!helm) return t.skip(missingPrerequisite("the chart's helm test Pod check", 'helm not found: run bash .ci/k8s-tools.sh'));
    const chart = fileURLToPath(new URL('../../helm/authjwt', import.meta.url));
    const rendered = execFileSync(
      helm,
      [
        'template',
        'authjwt',
        chart,
        '--namespace',
        'auth',
        '-f',
        join(chart, 'ci/minimal-values.yaml'),
        '--show-only',
        'templates/tests/test-health.yaml',
      ],
      { encoding: 'utf8' },
    );
    const pod = parseManifests(rendered)[0] as unknown as {
      spec: { containers: { command: string[]; args: string[]; workingDir: string }[] };
    };
    const c = pod.spec.containers[0]!;
    // Run inside the hardened authjwt container (same image, user and read-only filesystem as the Pod),
    // reaching authjwt through the Service name the Pod would use (a network alias here). A separate
    // one-shot container is not used: podman reports EXPOSEd ports as unbound and testcontainers waits.
    const res = await authjwt!.exec([...c.command, ...c.args], { workingDir: c.workingDir });
    const text = res.output;
    assert.equal(res.exitCode, 0, text);
    assert.match(text, /ok \/readyz/);
    assert.match(text, /ok JWKS kids /);
    assert.match(text, /ok gRPC health SERVING/);
  });

  it('SIGTERM (PID 1): drains, logs it and exits 0 well within the grace period', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const runtime = await getContainerRuntimeClient();
    const raw = runtime.container.getById(authjwt!.getId());
    const started = Date.now();
    // `stop` sends the image's stop signal (SIGTERM) and would SIGKILL only after 30 s.
    await authjwt!.stop({ timeout: 30_000, remove: false });
    const tookMs = Date.now() - started;
    authjwt = undefined;
    const state = (await raw.inspect()).State;
    await raw.remove({ force: true }).catch(() => undefined);
    const text = logs.join('');
    assert.equal(state.ExitCode, 0, `exit code ${state.ExitCode} (137 = killed: SIGTERM was not handled)\n${text.slice(-2000)}`);
    assert.ok(tookMs < 25_000, `stop took ${tookMs} ms`);
    assert.match(text, /"signal":"SIGTERM".*"msg":"signal received"/);
    assert.match(text, /shutting down: health NOT_SERVING, draining in-flight calls/);
    assert.match(text, /"msg":"authjwt stopped"/);
    console.log(`# SIGTERM → exit 0 in ${tookMs} ms`);
  });
});
