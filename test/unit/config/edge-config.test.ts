/** The `edge` and `mintedTokens` configuration: defaults, normalisation, and every refused combination. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../../src/config/load.ts';
import { configIssueAt as issueAt } from '../../helpers/config-issues.ts';

const base = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  issuer: 'https://authjwt.example',
  audience: ['internal-services'],
  keys: { dir: '/var/run/secrets/authjwt/keys' },
  providers: [{ id: 'github', preset: 'github' }],
  ...extra,
});

describe('edge configuration', () => {
  it('defaults: both doors off, Bearer in authorization, forward-auth internal, cache on for the edge only', () => {
    const c = buildConfig(base());
    assert.deepEqual(c.edge, {
      tokenHeader: 'authorization',
      tokenScheme: 'Bearer',
      providerHeader: 'x-authjwt-provider',
      mintedHeader: 'authorization',
      mintedScheme: 'Bearer',
      identityHeaders: {},
      keepProviderToken: false,
      txnToken: { mode: 'off' },
      extAuthz: { enabled: false, onUnavailable: 'error' },
      forwardAuth: { enabled: false, path: '/forward-auth', listener: 'internal', timeout: 10_000, maxConcurrent: 512 },
    });
    assert.deepEqual(c.mintedTokens, { maxEntries: 10_000, refreshMargin: 60_000, getJwt: false });
  });

  it('header names are lower-cased (identity header keys too); an empty provider header disables it', () => {
    const c = buildConfig(
      base({
        edge: {
          tokenHeader: 'X-Provider-Token',
          tokenScheme: '',
          providerHeader: '',
          identityHeaders: { 'X-User': 'sub' },
          defaultProvider: 'github',
        },
      }),
    );
    assert.equal(c.edge.tokenHeader, 'x-provider-token');
    assert.equal(c.edge.providerHeader, '');
    assert.deepEqual(c.edge.identityHeaders, { 'x-user': 'sub' });
    assert.equal(c.edge.defaultProvider, 'github');
  });

  const refused: [string, Record<string, unknown>, string, RegExp][] = [
    ['an unknown default provider', { edge: { defaultProvider: 'gitlab' } }, 'edge.defaultProvider', /names no configured provider/],
    ['a header name with a space', { edge: { tokenHeader: 'x token' } }, 'edge.tokenHeader', /HTTP header name/],
    ['host as the minted header', { edge: { mintedHeader: 'Host' } }, 'edge.mintedHeader', /framing or routing header/],
    ['cookie as the token header', { edge: { tokenHeader: 'cookie' } }, 'edge.tokenHeader', /framing or routing header/],
    ['a pseudo-header', { edge: { identityHeaders: { ':path': 'sub' } } }, 'edge.identityHeaders.:path', /HTTP header name/],
    ['a scheme with a space', { edge: { tokenScheme: 'Bearer x' } }, 'edge.tokenScheme', /auth scheme/],
    [
      'keeping the token in the header that receives the minted one',
      { edge: { keepProviderToken: true } },
      'edge.keepProviderToken',
      /cannot be kept/,
    ],
    [
      'an identity header that is the minted header',
      { edge: { identityHeaders: { authorization: 'sub' } } },
      'edge.identityHeaders.authorization',
      /already used/,
    ],
    ['the provider header as the token header', { edge: { providerHeader: 'authorization' } }, 'edge.providerHeader', /must differ/],
    ['a relative forward-auth path', { edge: { forwardAuth: { path: 'auth' } } }, 'edge.forwardAuth.path', /absolute path/],
    ['forward-auth on a public route', { edge: { forwardAuth: { path: '/.well-known/x' } } }, 'edge.forwardAuth.path', /collides/],
    ['an unknown listener', { edge: { forwardAuth: { listener: 'both' } } }, 'edge.forwardAuth.listener', /./],
    ['an unknown edge field', { edge: { extAuthz: { enabled: true, failOpen: true } } }, 'edge.extAuthz', /unknown|Unrecognized/i],
    [
      'a refresh margin not below tokenTtl',
      { tokenTtl: '1m', mintedTokens: { refreshMargin: '1m' } },
      'mintedTokens.refreshMargin',
      /shorter than tokenTtl/,
    ],
    [
      "a refresh margin not below a provider's tokenTtl",
      { providers: [{ id: 'github', preset: 'github', tokenTtl: '30s' }] },
      'mintedTokens.refreshMargin',
      /every provider tokenTtl/,
    ],
  ];
  for (const [name, extra, path, problem] of refused) {
    it(`refuses ${name} (${path})`, () => assert.match(issueAt(base(extra), path), problem));
  }

  it('a disabled minted-token cache does not constrain the margin', () => {
    assert.doesNotThrow(() => buildConfig(base({ tokenTtl: '30s', mintedTokens: { maxEntries: 0 } })));
  });
});

describe('edge.txnToken (issue 22)', () => {
  it('mode mint needs the requester (the req_wl of Txn-Tokens minted at the edge)', () => {
    assert.match(issueAt(base({ edge: { txnToken: { mode: 'mint' } } }), 'edge.txnToken.requester'), /required with mode mint/);
  });
  it('an unknown mode is refused', () => {
    issueAt(base({ edge: { txnToken: { mode: 'MINT' } } }), 'edge.txnToken.mode');
  });
  it('with a mode other than off, no edge header may be the Txn-Token header', () => {
    for (const [edge, path] of [
      [{ tokenHeader: 'Txn-Token' }, 'edge.tokenHeader'],
      [{ mintedHeader: 'txn-token' }, 'edge.mintedHeader'],
      [{ providerHeader: 'TXN-TOKEN' }, 'edge.providerHeader'],
      [{ identityHeaders: { 'txn-token': 'sub' } }, 'edge.identityHeaders.txn-token'],
    ] as const)
      assert.match(issueAt(base({ edge: { ...edge, txnToken: { mode: 'verify' } } }), path), /Txn-Token header/);
    // Mode off (the default): unchanged, such a header stays allowed.
    assert.equal(buildConfig(base({ edge: { mintedHeader: 'txn-token' } })).edge.mintedHeader, 'txn-token');
  });
});

it('edge.txnToken: with the txnTokens section a route may mint or verify, so no edge header may be txn-token even with mode off', () => {
  const raw = base({
    edge: { identityHeaders: { 'txn-token': 'sub' } },
    txnTokens: { trustDomain: 'td.example', requesters: [{ client: 'gw' }] },
    tokenEndpoint: {
      enabled: true,
      clientAuthentication: {
        methods: ['private_key_jwt'],
        replayCache: { store: 'memory' },
        clients: [
          {
            id: 'gw',
            privateKeyJwt: {
              jwks: {
                keys: [
                  {
                    kty: 'EC',
                    crv: 'P-256',
                    x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
                    y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
                  },
                ],
              },
            },
          },
        ],
      },
    },
  });
  assert.match(issueAt(raw, 'edge.identityHeaders.txn-token'), /Txn-Token header/);
  assert.match(
    issueAt({ ...raw, edge: { txnToken: { requester: 'nobody' } } }, 'edge.txnToken.requester'),
    /not a client of txnTokens.requesters/,
  );
  assert.match(issueAt(base({ edge: { txnToken: { mode: 'verify' } } }), 'edge.txnToken.mode'), /needs the txnTokens section/);
});

it('txnTokens.trustDomain is never an access-token audience (a hop checking only aud, like jwt_authn, would take an access token for a Txn-Token)', () => {
  const txn = {
    txnTokens: { trustDomain: 'internal-services', requesters: [{ client: 'gw' }] },
    tokenEndpoint: {
      enabled: true,
      clientAuthentication: {
        methods: ['private_key_jwt'],
        replayCache: { store: 'memory' },
        clients: [
          {
            id: 'gw',
            privateKeyJwt: {
              jwks: {
                keys: [
                  {
                    kty: 'EC',
                    crv: 'P-256',
                    x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
                    y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
                  },
                ],
              },
            },
          },
        ],
      },
    },
  };
  assert.match(issueAt(base(txn), 'txnTokens.trustDomain'), /must not be an audience of access tokens/);
  const perProvider = base({
    ...txn,
    txnTokens: { ...txn.txnTokens, trustDomain: 'td.example' },
    providers: [{ id: 'github', preset: 'github', audience: ['td.example'] }],
  });
  assert.match(issueAt(perProvider, 'txnTokens.trustDomain'), /must not be an audience/);
  assert.equal(
    buildConfig(base({ ...txn, txnTokens: { ...txn.txnTokens, trustDomain: 'td.example' } })).txnTokens?.trustDomain,
    'td.example',
  );
});
