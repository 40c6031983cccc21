/**
 * The `kubernetes.io` claim read as Kubernetes writes it (kubernetes/kubernetes
 * pkg/serviceaccount/claims.go): what policy sees and what the account id is made of.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthJwtError } from '../../../../src/errors.ts';
import { kubernetesIdentityOf, renderSubject } from '../../../../src/providers/kubernetes/identity.ts';

const SA_UID = '1a2b3c4d-0000-4000-8000-000000000001';
const claims = (k: unknown, sub = 'system:serviceaccount:prod:api') => ({ sub, 'kubernetes.io': k });
const sa = { namespace: 'prod', serviceaccount: { name: 'api', uid: SA_UID } };

describe('kubernetesIdentityOf', () => {
  const refused: [string, Record<string, unknown>][] = [
    ['no kubernetes.io', { sub: 'system:serviceaccount:prod:api' }],
    ['kubernetes.io not an object', claims('prod')],
    ['no namespace', claims({ serviceaccount: sa.serviceaccount })],
    ['an upper-case namespace', claims({ ...sa, namespace: 'Prod' }, 'system:serviceaccount:Prod:api')],
    ['a namespace with a colon (would forge the username)', claims({ ...sa, namespace: 'a:b' }, 'system:serviceaccount:a:b:api')],
    ['no service account', claims({ namespace: 'prod' })],
    ['a service account without a name', claims({ namespace: 'prod', serviceaccount: { uid: SA_UID } })],
    ['a service account uid that is not a string', claims({ namespace: 'prod', serviceaccount: { name: 'api', uid: 7 } })],
    ['a malformed pod reference', claims({ ...sa, pod: { name: 'p' } })],
    ['warnafter not a number', claims({ ...sa, warnafter: '1800000000' })],
    ['sub naming another account', claims(sa, 'system:serviceaccount:prod:admin')],
    ['no sub', { 'kubernetes.io': sa }],
    [
      'kubernetes.io only on the prototype',
      Object.assign(Object.create({ 'kubernetes.io': sa }), { sub: 'system:serviceaccount:prod:api' }),
    ],
  ];
  for (const [name, c] of refused) {
    it(`refuses ${name}: UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN`, () =>
      assert.throws(
        () => kubernetesIdentityOf(c),
        (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN' && e.kind === 'unauthenticated',
      ));
  }

  it('a pod-bound token of 1.30+ (with the node)', () => {
    const pod = { name: 'api-7d9f8b6c5-x2x4z', uid: '3c4d5e6f-0000-4000-8000-000000000002' };
    const node = { name: 'kind-worker', uid: '5e6f7a8b-0000-4000-8000-000000000003' };
    const identity = kubernetesIdentityOf(claims({ ...sa, node, pod, warnafter: 1_800_000_000 }));
    assert.deepEqual(identity, {
      namespace: 'prod',
      serviceAccount: { name: 'api', uid: SA_UID },
      pod,
      node,
      secret: undefined,
      warnAfter: 1_800_000_000,
      username: 'system:serviceaccount:prod:api',
    });
  });

  it('renderSubject: {namespace}, {name}, {uid}, every occurrence, "$&" in a template copied verbatim', () => {
    const identity = kubernetesIdentityOf(claims(sa));
    assert.equal(renderSubject('system:serviceaccount:{namespace}:{name}', identity), 'system:serviceaccount:prod:api');
    assert.equal(renderSubject('{uid}', identity), SA_UID);
    assert.equal(renderSubject('$&{name}/{name}', identity), '$&api/api');
  });
});
