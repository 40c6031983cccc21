/**
 * The Kubernetes verifier (src/providers/kubernetes/kubernetes-verifier.ts) against the FAKE
 * Kubernetes API server of test/helpers/fake-kubernetes.ts (HTTPS with its own CA; discovery and JWKS
 * only for authjwt's Bearer token; TokenReview; tokens shaped as kubernetes/kubernetes
 * pkg/serviceaccount/claims.go makes them — see that file's header). Negative cases first, each with
 * its exact catalogue code and kind (→ gRPC status via src/grpc/status.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import type { AuthJwtError } from '../../../../src/errors.ts';
import type { VerifiedIdentity } from '../../../../src/exchange/ports.ts';
import {
  createKubernetesTokenVerifier,
  type KubernetesTokenVerifier,
  type KubernetesVerifierOptions,
} from '../../../../src/providers/kubernetes/kubernetes-verifier.ts';
import { startFakeKubernetes, type FakeKubernetes, type IssuedToken, type ServiceAccount } from '../../../helpers/fake-kubernetes.ts';

const API = 'https://kubernetes.default.svc.cluster.local';
const payments: ServiceAccount = { namespace: 'prod-payments', name: 'api', uid: '1a2b3c4d-0000-4000-8000-000000000001' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const rejectsWith = async (promise: Promise<unknown>, code: string, kind: string) =>
  assert.rejects(promise, (e: AuthJwtError) => {
    assert.equal(e.code, `ERR_AUTHJWT_${code}`, `${e.code}: ${e.detail}`);
    assert.equal(e.kind, kind);
    return true;
  });

describe('Kubernetes service-account tokens (fake API server)', () => {
  let k8s: FakeKubernetes;
  const verifiers: KubernetesTokenVerifier[] = [];
  const verifierFor = (o: Partial<KubernetesVerifierOptions> = {}) => {
    const v = createKubernetesTokenVerifier({
      provider: 'k8s',
      issuer: k8s.issuer,
      audiences: ['authjwt'],
      apiAudiences: [k8s.issuer, 'https://kubernetes.default.svc'],
      apiServer: k8s.apiServer,
      tokenFile: k8s.tokenFile,
      caFile: k8s.caFile,
      retries: 0,
      ...o,
    });
    verifiers.push(v);
    return v;
  };
  let verifier: KubernetesTokenVerifier;

  before(async () => {
    k8s = await startFakeKubernetes({ issuer: API });
    verifier = verifierFor();
  });
  after(async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await k8s?.close();
  });

  describe('refused', () => {
    const cases: [string, () => Promise<string>, string, string][] = [
      [
        'a token for the API server (its audience only)',
        async () => (await k8s.issue(payments, { audiences: [API] })).token,
        'UPSTREAM_WRONG_AUDIENCE',
        'unauthenticated',
      ],
      [
        'a token for the API server that also names authjwt',
        async () => (await k8s.issue(payments, { audiences: ['authjwt', API] })).token,
        'UPSTREAM_WRONG_AUDIENCE',
        'unauthenticated',
      ],
      [
        'another audience',
        async () => (await k8s.issue(payments, { audiences: ['vault'] })).token,
        'UPSTREAM_WRONG_AUDIENCE',
        'unauthenticated',
      ],
      [
        'the default service account',
        async () => (await k8s.issue({ ...payments, name: 'default' })).token,
        'POLICY_DEFAULT_SERVICE_ACCOUNT',
        'permission_denied',
      ],
      ['expired', async () => (await k8s.issue(payments, { shift: -7200 })).token, 'UPSTREAM_EXPIRED', 'unauthenticated'],
      [
        'not yet valid (nbf an hour ahead)',
        async () => (await k8s.issue(payments, { shift: 3600 })).token,
        'UPSTREAM_NOT_YET_VALID',
        'unauthenticated',
      ],
      [
        'iat in the future (nbf now)',
        async () =>
          (
            await k8s.issue(payments, {
              mutate: (p) => {
                p.iat = (p.iat as number) + 3600;
              },
            })
          ).token,
        'UPSTREAM_ISSUED_IN_FUTURE',
        'unauthenticated',
      ],
      [
        'a lifetime over 24h (expirationSeconds 48h)',
        async () => (await k8s.issue(payments, { expirationSeconds: 48 * 3600 })).token,
        'UPSTREAM_LIFETIME_TOO_LONG',
        'unauthenticated',
      ],
      [
        'an extended token past its warnafter (the real expiry), exp a year away',
        async () => (await k8s.issue(payments, { shift: -7200, expirationSeconds: 365 * 86400, warnAfterSeconds: 3607 })).token,
        'UPSTREAM_EXPIRED',
        'unauthenticated',
      ],
      [
        'another issuer',
        async () =>
          (
            await k8s.issue(payments, {
              mutate: (p) => {
                p.iss = 'https://other-cluster.example';
              },
            })
          ).token,
        'UPSTREAM_WRONG_ISSUER',
        'unauthenticated',
      ],
      [
        'no kubernetes.io claim',
        async () => (await k8s.issue(payments, { mutate: (p) => void delete p['kubernetes.io'] })).token,
        'UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN',
        'unauthenticated',
      ],
      [
        'sub is another service account than kubernetes.io names',
        async () =>
          (
            await k8s.issue(payments, {
              mutate: (p) => {
                p.sub = 'system:serviceaccount:kube-system:admin';
              },
            })
          ).token,
        'UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN',
        'unauthenticated',
      ],
      [
        'kubernetes.io is a list',
        async () =>
          (
            await k8s.issue(payments, {
              mutate: (p) => {
                p['kubernetes.io'] = [payments.namespace];
              },
            })
          ).token,
        'UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN',
        'unauthenticated',
      ],
      [
        'a namespace with a control character',
        async () =>
          (
            await k8s.issue(payments, {
              mutate: (p) => {
                (p['kubernetes.io'] as Record<string, unknown>).namespace = 'prod\npayments';
                p.sub = 'system:serviceaccount:prod\npayments:api';
              },
            })
          ).token,
        'UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN',
        'unauthenticated',
      ],
      [
        'a service account without uid',
        async () =>
          (
            await k8s.issue(payments, {
              mutate: (p) => void delete (p['kubernetes.io'] as Record<string, Record<string, unknown>>).serviceaccount!.uid,
            })
          ).token,
        'UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN',
        'unauthenticated',
      ],
      [
        'no exp (a legacy Secret-based token never expires)',
        async () => (await k8s.issue(payments, { mutate: (p) => void delete p.exp })).token,
        'UPSTREAM_INVALID_TOKEN',
        'unauthenticated',
      ],
      [
        'signed with a key the cluster never published',
        async () => (await k8s.issue(payments, { kid: await k8s.rogueKid() })).token,
        'UPSTREAM_UNKNOWN_KEY',
        'unauthenticated',
      ],
      [
        'a payload changed after signing',
        async () => {
          const [h, , s] = (await k8s.issue(payments)).token.split('.');
          const forged = { ...(await k8s.issue(payments)).payload, sub: 'system:serviceaccount:kube-system:admin' };
          return `${h}.${b64(forged)}.${s}`;
        },
        'UPSTREAM_INVALID_TOKEN',
        'unauthenticated',
      ],
      [
        'alg none',
        async () => `${b64({ alg: 'none' })}.${b64((await k8s.issue(payments)).payload)}.`,
        'UPSTREAM_INVALID_TOKEN',
        'unauthenticated',
      ],
      [
        'HS256 keyed with the published RSA key (alg confusion)',
        async () => {
          const jwk = k8s.jwks().keys[0]!;
          const payload = (await k8s.issue(payments)).payload;
          return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
            .setProtectedHeader({ alg: 'HS256', kid: jwk.kid! })
            .sign(new TextEncoder().encode(JSON.stringify(jwk)));
        },
        'UPSTREAM_INVALID_TOKEN',
        'unauthenticated',
      ],
      [
        'an ES256 key of the attacker embedded in the header (jwk injection)',
        async () => {
          const { privateKey, publicKey } = await generateKeyPair('ES256');
          return new CompactSign(new TextEncoder().encode(JSON.stringify((await k8s.issue(payments)).payload)))
            .setProtectedHeader({ alg: 'ES256', jwk: await exportJWK(publicKey) })
            .sign(privateKey);
        },
        'UPSTREAM_INVALID_TOKEN',
        'unauthenticated',
      ],
      ['an opaque token', async () => 'sha256~0123456789abcdef', 'UPSTREAM_MALFORMED', 'unauthenticated'],
    ];
    for (const [name, make, code, kind] of cases) {
      it(`refuses ${name}: ${code}`, async () => rejectsWith(verifier.verify(await make()), code, kind));
    }
  });

  describe('accepted', () => {
    const ok = async (v: KubernetesTokenVerifier, t: IssuedToken): Promise<VerifiedIdentity> => v.verify(t.token);

    it('a pod-bound token for authjwt: the account is system:serviceaccount:<ns>:<name>; claims keep kubernetes.io as issued', async () => {
      const t = await k8s.issue(payments);
      const identity = await ok(verifier, t);
      assert.equal(identity.accountId, 'system:serviceaccount:prod-payments:api');
      assert.equal(identity.strategy, 'jwt');
      assert.equal(identity.expiresAt, (t.payload.exp as number) * 1000);
      assert.deepEqual(identity.claims['kubernetes.io'], {
        namespace: 'prod-payments',
        node: { name: 'kind-worker', uid: '7b0c3e8a-6a3f-4c6e-9e0e-2f0f4f5a1b2c' },
        pod: t.pod,
        serviceaccount: { name: 'api', uid: payments.uid },
      });
    });
    it('a secret-bound token; a single string aud', async () => {
      await ok(verifier, await k8s.issue(payments, { boundTo: 'secret' }));
      await ok(
        verifier,
        await k8s.issue(payments, {
          mutate: (p) => {
            p.aud = 'authjwt';
          },
        }),
      );
    });
    it('an extended token before its warnafter: expiresAt is warnafter', async () => {
      const t = await k8s.issue(payments, { expirationSeconds: 365 * 86400, warnAfterSeconds: 3607 });
      const identity = await ok(verifier, t);
      assert.equal(identity.expiresAt, ((t.payload['kubernetes.io'] as { warnafter: number }).warnafter as number) * 1000);
    });
    it('subject template with the service account UID', async () => {
      const v = verifierFor({ subject: '{namespace}/{name}/{uid}' });
      assert.equal((await ok(v, await k8s.issue(payments))).accountId, `prod-payments/api/${payments.uid}`);
    });
    it('scopes (issue 22): undefined (cannot be determined) by default, kubernetes.scopes when configured — never a scope claim the token makes', async () => {
      assert.equal((await ok(verifier, await k8s.issue(payments))).scopes, undefined);
      const v = verifierFor({ scopes: ['orders.read', 'orders.write'] });
      const claiming = await k8s.issue(payments, {
        mutate: (p) => {
          p.scope = 'admin';
        },
      });
      assert.deepEqual((await ok(v, claiming)).scopes, ['orders.read', 'orders.write']);
      assert.equal((await ok(verifier, claiming)).scopes, undefined);
    });
    it('the default service account when explicitly allowed', async () => {
      const v = verifierFor({ allowDefaultServiceAccount: true });
      assert.equal(
        (await ok(v, await k8s.issue({ ...payments, name: 'default' }))).accountId,
        'system:serviceaccount:prod-payments:default',
      );
    });
  });

  describe('keys from the API server', () => {
    it("discovery and JWKS are fetched with authjwt's Bearer token, JWKS from the API server (not the jwks_uri on another origin)", async () => {
      const before = k8s.requests.length;
      const v = verifierFor();
      await v.verify((await k8s.issue(payments)).token);
      const calls = k8s.requests.slice(before);
      assert.deepEqual(
        calls.map((r) => `${r.method} ${r.path} ${r.status}`),
        ['GET /.well-known/openid-configuration 200', 'GET /openid/v1/jwks 200'],
      );
      // The fake answers 200 only to the reader token of k8s.tokenFile (401 otherwise).
      assert.ok(calls.every((r) => r.bearer?.startsWith('reader-')));
    });

    it('an unknown kid refetches the JWKS, at most once per cooldown', async () => {
      // jose's remote JWKS counts the cooldown on the real clock: a short cooldown and real waits.
      const cooldown = 400;
      const v = verifierFor({ jwksCooldown: cooldown });
      await v.verify((await k8s.issue(payments)).token);
      const jwksCalls = () => k8s.requests.filter((r) => r.path === '/openid/v1/jwks').length;
      const start = jwksCalls();
      const rogue = await k8s.rogueKid();
      const forged = await Promise.all([1, 2, 3].map(() => k8s.issue(payments, { kid: rogue })));
      await sleep(cooldown + 100);
      const rotated = await k8s.rotate();
      // A token of the new key: unknown to the cached JWKS → one refetch → accepted.
      await v.verify((await k8s.issue(payments, { kid: rotated })).token);
      assert.equal(jwksCalls(), start + 1);
      // Unknown kids within the cooldown: refused without a fetch (a forger cannot make us hammer the API server).
      for (const t of forged) await rejectsWith(v.verify(t.token), 'UPSTREAM_UNKNOWN_KEY', 'unauthenticated');
      assert.equal(jwksCalls(), start + 1);
      await sleep(cooldown + 100);
      await rejectsWith(v.verify(forged[0]!.token), 'UPSTREAM_UNKNOWN_KEY', 'unauthenticated');
      assert.equal(jwksCalls(), start + 2, 'after the cooldown: one more refetch');
    });

    it('the API server down before any key was fetched → UNAVAILABLE, never UNAUTHENTICATED', async () => {
      const v = verifierFor();
      k8s.setDown(true);
      try {
        await assert.rejects(v.verify((await k8s.issue(payments)).token), (e: AuthJwtError) => e.kind === 'unavailable');
      } finally {
        k8s.setDown(false);
      }
    });

    it('the API server down after the keys were fetched: known keys keep verifying', async () => {
      const v = verifierFor();
      await v.verify((await k8s.issue(payments)).token);
      k8s.setDown(true);
      try {
        await v.verify((await k8s.issue(payments)).token);
      } finally {
        k8s.setDown(false);
      }
    });

    it('authjwt lacks the discovery RBAC (403) → PROVIDER_KUBERNETES_FORBIDDEN (UNAVAILABLE)', async () => {
      const v = verifierFor();
      k8s.grants.discovery = false;
      try {
        await rejectsWith(v.verify((await k8s.issue(payments)).token), 'PROVIDER_KUBERNETES_FORBIDDEN', 'unavailable');
      } finally {
        k8s.grants.discovery = true;
      }
    });

    it("authjwt's own token unreadable → PROVIDER_CREDENTIALS_UNREADABLE (UNAVAILABLE)", async () => {
      const v = verifierFor({ tokenFile: `${k8s.dir}/no-such-token` });
      await rejectsWith(v.verify((await k8s.issue(payments)).token), 'PROVIDER_CREDENTIALS_UNREADABLE', 'unavailable');
    });

    it('a CA that did not sign the API server certificate → UNAVAILABLE (the system trust store is not used)', async () => {
      const v = verifierFor({ caFile: `${k8s.dir}/server.crt` });
      await assert.rejects(v.verify((await k8s.issue(payments)).token), (e: AuthJwtError) => e.kind === 'unavailable');
    });

    it('the discovery document names another issuer → UNAVAILABLE (a configuration error), not a verdict on the token', async () => {
      const v = verifierFor({
        issuer: 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE',
        apiAudiences: ['https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE'],
      });
      await rejectsWith(v.verify((await k8s.issue(payments)).token), 'PROVIDER_DISCOVERY_FAILED', 'unavailable');
    });
  });

  describe('TokenReview (kubernetes.tokenReview)', () => {
    it('a token whose pod was deleted → UPSTREAM_TOKEN_REVIEW_REJECTED (UNAUTHENTICATED); without TokenReview it still verifies until exp', async () => {
      const v = verifierFor({ tokenReview: true });
      const t = await k8s.issue(payments);
      assert.equal((await v.verify(t.token)).strategy, 'token-review');
      k8s.deleteBoundObject(t.pod!.uid);
      await rejectsWith(v.verify(t.token), 'UPSTREAM_TOKEN_REVIEW_REJECTED', 'unauthenticated');
      await verifierFor().verify(t.token);
    });

    it('the API server down during TokenReview → UNAVAILABLE', async () => {
      const v = verifierFor({ tokenReview: true });
      await v.verify((await k8s.issue(payments)).token);
      k8s.setDown(true);
      try {
        await assert.rejects(v.verify((await k8s.issue(payments)).token), (e: AuthJwtError) => e.kind === 'unavailable');
      } finally {
        k8s.setDown(false);
      }
    });

    it('authjwt lacks system:auth-delegator (403) → PROVIDER_KUBERNETES_FORBIDDEN (UNAVAILABLE)', async () => {
      const v = verifierFor({ tokenReview: true });
      k8s.grants.tokenReview = false;
      try {
        await rejectsWith(v.verify((await k8s.issue(payments)).token), 'PROVIDER_KUBERNETES_FORBIDDEN', 'unavailable');
      } finally {
        k8s.grants.tokenReview = true;
      }
    });

    it("authjwt's token rotated by kubelet: a 401 makes the next call re-read the file", async () => {
      const v = verifierFor({ tokenReview: true });
      await v.verify((await k8s.issue(payments)).token);
      k8s.rotateReaderToken();
      await rejectsWith(v.verify((await k8s.issue(payments)).token), 'PROVIDER_KUBERNETES_FORBIDDEN', 'unavailable');
      await v.verify((await k8s.issue(payments)).token);
    });
  });
});
