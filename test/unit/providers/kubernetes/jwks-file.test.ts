/**
 * Static JWKS file mode (kubernetes.jwksFile) for clusters that publish no keys: no API server call at
 * all; the file is re-read when it changes and on an unknown kid (rate-limited); a bad update keeps the
 * last good keys; a missing or invalid file is UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuthJwtError } from '../../../../src/errors.ts';
import { createKubernetesTokenVerifier, type KubernetesTokenVerifier } from '../../../../src/providers/kubernetes/kubernetes-verifier.ts';
import { startFakeKubernetes, type FakeKubernetes, type ServiceAccount } from '../../../helpers/fake-kubernetes.ts';

const sa: ServiceAccount = { namespace: 'ci', name: 'runner', uid: '9f8e7d6c-0000-4000-8000-00000000000a' };

describe('Kubernetes keys from a static JWKS file', () => {
  let k8s: FakeKubernetes;
  let dir: string;
  let file: string;
  let now = Date.now();
  let verifier: KubernetesTokenVerifier;

  before(async () => {
    k8s = await startFakeKubernetes();
    dir = mkdtempSync(join(tmpdir(), 'authjwt-jwks-file-'));
    file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify(k8s.jwks()));
    verifier = createKubernetesTokenVerifier({
      provider: 'k8s-file',
      issuer: k8s.issuer,
      audiences: ['authjwt'],
      apiAudiences: [k8s.issuer],
      // Never contacted in file mode without TokenReview: a URL nothing listens on.
      apiServer: 'https://127.0.0.1:1',
      tokenFile: join(dir, 'absent-token'),
      caFile: join(dir, 'absent-ca'),
      jwksFile: file,
      jwksCooldown: 30_000,
      clock: () => now,
    });
  });
  after(async () => {
    await verifier?.close();
    await k8s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies against the file, with no call to any API server', async () => {
    const before = k8s.requests.length;
    assert.equal((await verifier.verify((await k8s.issue(sa)).token)).accountId, 'system:serviceaccount:ci:runner');
    assert.equal(k8s.requests.length, before);
  });

  it('a rotated key: an unknown kid re-reads the file once per cooldown', async () => {
    const rotated = await k8s.rotate();
    const token = (await k8s.issue(sa, { kid: rotated })).token;
    await assert.rejects(verifier.verify(token), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_UPSTREAM_UNKNOWN_KEY');
    // The ConfigMap is updated: the next unknown kid within the cooldown still does not re-read...
    writeFileSync(file, JSON.stringify(k8s.jwks()));
    now += 1_000;
    await assert.rejects(verifier.verify(token), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_UPSTREAM_UNKNOWN_KEY');
    // ...after it, it does (the periodic modification-time check would find it too).
    now += 30_000;
    await verifier.verify(token);
  });

  it('a broken update keeps the last good keys', async () => {
    writeFileSync(file, '{"keys": [');
    now += 60_000;
    await verifier.verify((await k8s.issue(sa)).token);
  });

  const invalid: [string, string | undefined][] = [
    ['missing', undefined],
    ['not JSON', '{"keys": ['],
    ['no keys list', '{"kty": "RSA"}'],
    ['an empty keys list', '{"keys": []}'],
  ];
  for (const [name, content] of invalid) {
    it(`a file ${name} from the start → PROVIDER_JWKS_FILE_INVALID (UNAVAILABLE)`, async () => {
      const path = join(dir, `bad-${name.replaceAll(' ', '-')}.json`);
      if (content !== undefined) writeFileSync(path, content);
      const v = createKubernetesTokenVerifier({
        provider: 'k8s-file',
        issuer: k8s.issuer,
        audiences: ['authjwt'],
        apiAudiences: [k8s.issuer],
        apiServer: 'https://127.0.0.1:1',
        tokenFile: join(dir, 'absent-token'),
        caFile: join(dir, 'absent-ca'),
        jwksFile: path,
      });
      await assert.rejects(
        v.verify((await k8s.issue(sa)).token),
        (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_PROVIDER_JWKS_FILE_INVALID' && e.kind === 'unavailable',
      );
    });
  }
});
