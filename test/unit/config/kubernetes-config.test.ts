/** The `kubernetes` provider section (src/config/kubernetes-schema.ts): defaults, and every refused combination. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../../src/config/load.ts';
import { configIssueAt as issueAt } from '../../helpers/config-issues.ts';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const base = (provider: Record<string, unknown>): Record<string, unknown> => ({
  issuer: 'https://authjwt.example',
  audience: ['internal-services'],
  keys: { dir: '/var/run/secrets/authjwt/keys' },
  providers: [{ id: 'cluster', audiences: ['authjwt'], ...provider, kubernetes: { issuer: ISSUER, ...(provider.kubernetes as object) } }],
});

describe('kubernetes provider configuration', () => {
  const refused: [string, Record<string, unknown>, string, RegExp][] = [
    ['no audiences', { audiences: undefined }, 'providers[0].audiences', /is required for a kubernetes provider/],
    ['an empty audience list', { audiences: [] }, 'providers[0].audiences', /is required for a kubernetes provider/],
    [
      'the issuer as an accepted audience (the API server audience)',
      { audiences: [ISSUER] },
      'providers[0].audiences',
      /is an audience of the API server/,
    ],
    [
      'https://kubernetes.default.svc as an accepted audience',
      { audiences: ['authjwt', 'https://kubernetes.default.svc'] },
      'providers[0].audiences',
      /is an audience of the API server/,
    ],
    [
      'a configured API audience as an accepted audience',
      { audiences: ['k3s'], kubernetes: { apiAudiences: ['k3s'] } },
      'providers[0].audiences',
      /is an audience of the API server/,
    ],
    ['an OIDC issuer too', { issuer: 'https://sso.example' }, 'providers[0].issuer', /does not apply to a kubernetes provider/],
    ['a preset too', { preset: 'github' }, 'providers[0].preset', /does not apply to a kubernetes provider/],
    ['clientId', { clientId: 'x' }, 'providers[0].clientId', /does not apply to a kubernetes provider/],
    ['accountIdClaim', { accountIdClaim: 'sub' }, 'providers[0].accountIdClaim', /use kubernetes\.subject/],
    ['strategy', { strategy: 'jwt' }, 'providers[0].strategy', /does not apply to a kubernetes provider/],
    ['no issuer in kubernetes', { kubernetes: { issuer: undefined } }, 'providers[0].kubernetes.issuer', /./],
    [
      'a subject without {name} or {uid}',
      { kubernetes: { subject: '{namespace}' } },
      'providers[0].kubernetes.subject',
      /must contain \{name\} or \{uid\}/,
    ],
    ['an unknown placeholder', { kubernetes: { subject: '{name}:{pod}' } }, 'providers[0].kubernetes.subject', /the placeholders are/],
    [
      'a lifetime bound under 10 minutes',
      { kubernetes: { maxTokenLifetime: '5m' } },
      'providers[0].kubernetes.maxTokenLifetime',
      /at least/,
    ],
    ['an unknown field', { kubernetes: { namespace: 'x' } }, 'providers[0].kubernetes', /namespace/],
    [
      'a plain-http API server off loopback',
      { kubernetes: { apiServer: 'http://10.96.0.1' } },
      'providers[0].kubernetes.apiServer',
      /must be https/,
    ],
  ];
  for (const [name, provider, path, message] of refused) {
    it(`refuses ${name}`, () => assert.match(issueAt(base(provider), path), message));
  }

  it('defaults: in-cluster API server and files, the Kubernetes username as account id, API audiences refused, oidc only', () => {
    const c = buildConfig(base({}));
    const p = c.providers[0]!;
    assert.deepEqual(p.kubernetes, {
      issuer: ISSUER,
      apiServer: 'https://kubernetes.default.svc',
      tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      jwksFile: undefined,
      subject: 'system:serviceaccount:{namespace}:{name}',
      allowDefaultServiceAccount: false,
      maxTokenLifetime: 86_400_000,
      apiAudiences: [ISSUER, 'https://kubernetes.default.svc'],
      tokenReview: false,
      algorithms: undefined,
      jwksCooldown: 5_000,
      scopes: undefined,
    });
    assert.deepEqual(p.accountTypes, ['oidc']);
    assert.equal(p.oidc, undefined);
    assert.equal(p.userApi, undefined);
    assert.deepEqual(p.claims, {}, 'no OIDC profile claims by default');
    assert.deepEqual(
      c.warnings.filter((w) => w.includes('provider cluster')),
      [],
    );
  });

  it('configured API audiences keep the issuer; a static JWKS file needs no reachable API server', () => {
    const p = buildConfig(base({ kubernetes: { apiAudiences: ['k3s'], jwksFile: '/etc/k8s/jwks.json', apiServer: 'http://10.96.0.1' } }))
      .providers[0]!;
    assert.deepEqual(p.kubernetes!.apiAudiences, [ISSUER, 'k3s']);
  });

  it('a kubernetes provider is a trust source of the token endpoint (kind provider), routed by its cluster issuer', () => {
    const raw = {
      ...base({}),
      tokenEndpoint: {
        enabled: true,
        clientAuthentication: {
          methods: ['federated_jwt'],
          clients: [{ id: 'payments', federated: { trustSource: 'cluster', subject: 'system:serviceaccount:team-payments:api' } }],
          trustSources: [
            { id: 'cluster', kind: 'provider', provider: 'cluster' },
            { id: 'same-issuer', kind: 'oidc', issuer: ISSUER },
          ],
        },
      },
    };
    assert.match(issueAt(raw, 'tokenEndpoint.clientAuthentication.trustSources[1]'), /routes the same issuer or trust domain as "cluster"/);
    raw.tokenEndpoint.clientAuthentication.trustSources.pop();
    assert.equal(buildConfig(raw).tokenEndpoint.clientAuthentication.trustSources.length, 1);
  });

  it('allowDefaultServiceAccount is loud', () => {
    const c = buildConfig(base({ kubernetes: { allowDefaultServiceAccount: true } }));
    assert.ok(
      c.warnings.some((w) => /allowDefaultServiceAccount is on/.test(w)),
      c.warnings.join('\n'),
    );
  });

  it("a CEL policy over claims['kubernetes.io'] compiles, matches() included", () => {
    const c = buildConfig(
      base({
        allow: "claims['kubernetes.io'].namespace.matches('^team-[a-z0-9-]+$')",
        claims: { namespace: "claims['kubernetes.io'].namespace" },
      }),
    );
    assert.ok(c.providers[0]!.policy);
  });
});
