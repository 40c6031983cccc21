/**
 * How the edge doors read a bearer token and a provider choice from a gateway's request headers, and
 * which upstream headers change: table-driven, negative cases first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAudienceList, readBearer, upstreamMutation, type EdgeHeaderSettings } from '../../../src/edge/edge-headers.ts';
import { AuthJwtError } from '../../../src/errors.ts';

const settings: EdgeHeaderSettings = {
  tokenHeader: 'authorization',
  tokenScheme: 'Bearer',
  providerHeader: 'x-authjwt-provider',
  defaultProvider: undefined,
  mintedHeader: 'authorization',
  mintedScheme: 'Bearer',
  identityHeaders: {},
  keepProviderToken: false,
};
const lookup = (headers: Record<string, string | string[]>) => (name: string) => headers[name];
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AuthJwtError, String(e));
    return e.code;
  }
  return 'no error';
};

describe('readBearer', () => {
  const refused: [string, Record<string, string | string[]>, string][] = [
    ['no header', {}, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
    ['an empty list of values', { authorization: [] }, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
    ['another scheme', { authorization: 'Basic dXNlcjpwdw==' }, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
    ['the scheme alone', { authorization: 'Bearer' }, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
    ['the scheme and spaces', { authorization: 'Bearer    ' }, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
    ['a scheme sharing a prefix', { authorization: 'Bearerx abc' }, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
    ['a token without scheme', { authorization: 'abc' }, 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'],
    ['two header values', { authorization: ['Bearer a', 'Bearer b'] }, 'ERR_AUTHJWT_REQUEST_MULTIPLE_TOKENS'],
    ['two credentials joined by a comma (Envoy)', { authorization: 'Bearer a,Bearer b' }, 'ERR_AUTHJWT_REQUEST_MULTIPLE_TOKENS'],
    ['a comma in the token', { authorization: 'Bearer a,b' }, 'ERR_AUTHJWT_REQUEST_MULTIPLE_TOKENS'],
  ];
  for (const [name, headers, code] of refused) {
    it(`refuses ${name}: ${code}`, () =>
      assert.equal(
        codeOf(() => readBearer(lookup(headers), settings)),
        code,
      ));
  }

  it('reads the token after a case-insensitive scheme and any spaces or tabs', () => {
    assert.equal(readBearer(lookup({ authorization: 'bEaReR \t abc.def-ghi_~+/=  ' }), settings).token, 'abc.def-ghi_~+/=');
    assert.equal(readBearer(lookup({ authorization: ['Bearer one'] }), settings).token, 'one');
  });

  it('another header, no scheme: the whole value (trimmed) is the token', () => {
    const s = { ...settings, tokenHeader: 'x-provider-token', tokenScheme: '' };
    assert.equal(readBearer(lookup({ 'x-provider-token': ' opaque ', authorization: 'Bearer other' }), s).token, 'opaque');
    assert.equal(
      codeOf(() => readBearer(lookup({ authorization: 'Bearer other' }), s)),
      'ERR_AUTHJWT_REQUEST_MISSING_TOKEN',
    );
  });

  it('provider: the header as a hint; the route, else the configured default, as the default', () => {
    const s = { ...settings, defaultProvider: 'kc' };
    assert.deepEqual(readBearer(lookup({ authorization: 'Bearer t', 'x-authjwt-provider': ' github ' }), s, { provider: 'gl' }), {
      token: 't',
      providerHint: 'github',
      defaultProvider: 'gl',
      audience: undefined,
    });
    assert.equal(readBearer(lookup({ authorization: 'Bearer t' }), s, {}).defaultProvider, 'kc');
    assert.equal(readBearer(lookup({ authorization: 'Bearer t' }), s, { provider: '' }).defaultProvider, 'kc');
    // Several provider header values never name one configured provider.
    assert.equal(readBearer(lookup({ authorization: 'Bearer t', 'x-authjwt-provider': ['a', 'b'] }), s).providerHint, 'a,b');
    // Without a provider header configured, the client's header is ignored.
    assert.equal(
      readBearer(lookup({ authorization: 'Bearer t', 'x-authjwt-provider': 'a' }), { ...s, providerHeader: '' }).providerHint,
      undefined,
    );
  });

  it('route audience: passed on when non-empty', () => {
    assert.deepEqual(readBearer(lookup({ authorization: 'Bearer t' }), settings, { audience: ['a', 'b'] }).audience, ['a', 'b']);
    assert.equal(readBearer(lookup({ authorization: 'Bearer t' }), settings, { audience: [] }).audience, undefined);
    assert.deepEqual(parseAudienceList(' a, b  c,,'), ['a', 'b', 'c']);
    assert.equal(parseAudienceList(' , '), undefined);
    assert.equal(parseAudienceList(null), undefined);
  });
});

describe('upstreamMutation', () => {
  const claims = {
    sub: 'github:583231',
    provider: 'github',
    aud: ['a', 'b'],
    email_verified: true,
    exp: 1_800_000_000,
    name: 'José',
    note: 'line\r\nX-Injected: 1',
    obj: { a: 1 },
    long: 'x'.repeat(2000),
  };
  const ids = {
    'x-sub': 'sub',
    'x-aud': 'aud',
    'x-ev': 'email_verified',
    'x-exp': 'exp',
    'x-name': 'name',
    'x-note': 'note',
    'x-obj': 'obj',
    'x-long': 'long',
    'x-missing': 'email',
    'x-proto': 'constructor',
  };

  it('replaces the token header with the minted token; identity headers from claims; absent or unsafe values removed', () => {
    const m = upstreamMutation({ token: 'jwt', claims }, { ...settings, identityHeaders: ids });
    assert.deepEqual(m.set, [
      ['authorization', 'Bearer jwt'],
      ['x-sub', 'github:583231'],
      ['x-aud', 'a,b'],
      ['x-ev', 'true'],
      ['x-exp', '1800000000'],
    ]);
    // Non-ASCII, CR/LF, objects, oversized values and prototype names never become header values;
    // the client's provider hint is removed too.
    assert.deepEqual(m.remove, ['x-name', 'x-note', 'x-obj', 'x-long', 'x-missing', 'x-proto', 'x-authjwt-provider']);
  });

  it('the provider hint is kept when an identity header of the same name replaces it', () => {
    const m = upstreamMutation({ token: 'jwt', claims }, { ...settings, identityHeaders: { 'x-authjwt-provider': 'provider' } });
    assert.deepEqual(m, {
      set: [
        ['authorization', 'Bearer jwt'],
        ['x-authjwt-provider', 'github'],
      ],
      remove: [],
    });
  });

  it('token in another header: it is removed, unless keepProviderToken', () => {
    const s = { ...settings, tokenHeader: 'x-provider-token', mintedScheme: '', providerHeader: '' };
    assert.deepEqual(upstreamMutation({ token: 'jwt', claims }, s), { set: [['authorization', 'jwt']], remove: ['x-provider-token'] });
    assert.deepEqual(upstreamMutation({ token: 'jwt', claims }, { ...s, keepProviderToken: true }).remove, []);
  });
});
