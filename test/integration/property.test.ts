/**
 * Property-based tests (fast-check) of GetJWT through the real gRPC server, against a real OIDC
 * provider (oidc-provider) and the fake GitHub. Requests are random and adversarial: empty, oversized,
 * unicode and control-character fields; malformed JWTs; JWTs validly signed with the provider's own
 * private key but carrying wrong claims; alg confusion (none, HS256 keyed with the provider's public
 * key); kid / jku / x5u / embedded-jwk injection; duplicated claims; unknown providers; wrong types;
 * genuine tokens sent to the wrong provider or with the wrong account id; and (issue 15) scripted
 * introspection and userinfo answers from a fake OIDC issuer (test/helpers/fake-oidc-issuer.ts):
 * refresh / ID tokens marked by `typ`, `token_use` or `token_type`, tokens issued to another client
 * (azp / client_id) whose `aud` still lists ours, inactive / expired / foreign-issuer answers.
 *
 * For every request a small oracle, written from the documented contract (README status table,
 * docs/configuration.md limits, docs/strategies.md checks) and not from the code, says which status
 * must come back:
 *   RESOURCE_EXHAUSTED  the serialized request is larger than grpc.maxReceiveMessageBytes (16 KiB);
 *   INVALID_ARGUMENT    a malformed field, an unknown provider, or a type that is not the provider's;
 *   UNAVAILABLE         the provider's answer breaks its protocol (an introspection answer without a
 *                       boolean `active`, RFC 7662 §2.2);
 *   OK                  the token proves exactly provider_account_id at that provider;
 *   UNAUTHENTICATED     everything else.
 * The service must answer exactly that — never INTERNAL/UNKNOWN; no error detail and no log line may
 * contain the access token; every OK token must verify and name exactly provider:provider_account_id.
 * The oracle encodes the rules after issue 15 on every strategy (jwt, introspection, auto, userinfo):
 *   - a token marked as not an access token is refused: payload/answer `typ` id|refresh|offline|logout,
 *     `token_use` refresh_token|id_token|refresh|id, `token_type` refresh_token|id_token (or their
 *     RFC 8693 token-type URNs), all case-insensitive;
 *   - client binding: when `azp` or `client_id` is present (any value), each present one must be an
 *     accepted audience; only when both are absent does `aud` (string or array) decide;
 *   - jwt: `iat` more than the clock tolerance in the future is refused.
 * Also: the SSRF canary (a URL put into iss / kid / jku / x5u) is never called, metric labels stay
 * within config and fixed sets, no unhandled rejection, bounded heap. Figures print as "# property …".
 * A regression test at the end pins the $-sequence bug this suite found in mint().
 */
import { status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { CompactSign, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { OUTCOMES } from '../../src/errors.ts';
import { AUTH_PROTO_PATH, PROTO_LOADER_OPTIONS } from '../../src/grpc/proto.ts';
import { startAuthJwt, type Account, type CallResult, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { fakeGitHubProvider, startFakeGitHub, type FakeGitHub, type FakeGitHubUser } from '../helpers/fake-github.ts';
import { startFakeKubernetes, type FakeKubernetes } from '../helpers/fake-kubernetes.ts';
import { startFakeOidcIssuer, type FakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { listenOnLoopback } from '../helpers/net.ts';
import { API_RESOURCE, INTROSPECTION_CLIENT, newSigningKey, startOidcProvider, USERS, type OidcTestProvider } from '../helpers/oidc.ts';

// ---------------------------------------------------------------------------------------------
// The contract the oracle is written from.

const MAX_MESSAGE_BYTES = 16 * 1024; // grpc.maxReceiveMessageBytes default
const MAX_ACCESS_TOKEN_BYTES = 8192; // limits.maxAccessTokenBytes default
const MAX_ACCOUNT_ID_BYTES = 256; // limits.maxAccountIdBytes default
const MAX_PROVIDER_BYTES = 64;
const CLOCK_TOLERANCE_S = 5;
/** C0/C1 controls, DEL, U+2028/U+2029: never part of a provider id or an account id. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** RFC 6750 b64token and friends: visible ASCII only. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
/** JWT access-token header `typ` values accepted (RFC 9068 / RFC 8725), compared case-insensitively; absent is fine. */
const ACCEPTED_TYP = ['jwt', 'at+jwt', 'application/at+jwt'];
/**
 * `typ` (Keycloak), `token_use` (Cognito, Hydra) and `token_type` (RFC 7662, RFC 8693 URNs: last
 * segment) values of tokens that are not access tokens; a non-string value is refused too.
 */
const NOT_ACCESS_TOKEN = /^(id|id[_-]?token|refresh|refresh[_-]?token|offline|offline[_-]?token|logout|logout[_-]?token)$/i;
const AUDIENCE = 'frontend';
/** Adversarial inputs per run (issue 15 acceptance: at least 10,000); AUTHJWT_PROPERTY_RUNS=50000 for a soak. */
const RUNS = Number(process.env.AUTHJWT_PROPERTY_RUNS ?? 10_000);

const PROVIDERS = new Map<string, 'oidc' | 'oauth'>([
  ['op-jwt', 'oidc'],
  ['op-intro', 'oidc'],
  ['github', 'oauth'],
  ['github-bound', 'oauth'],
  ['fk-intro', 'oidc'],
  ['fk-auto', 'oidc'],
  ['fk-ui', 'oidc'],
]);
const PROVIDER_IDS = [...PROVIDERS.keys()];
/** The provider of the policy class: two allow rules and two computed claims over a JWT's claims. */
const POLICY_PROVIDER = 'fk-policy';
/** The provider of the kubernetes class (issue 21): projected service-account tokens of a FAKE API server, a namespace rule. */
const KUBERNETES_PROVIDER = 'k8s';
type ProviderId = 'op-jwt' | 'op-intro' | 'github' | 'github-bound' | 'fk-intro' | 'fk-auto' | 'fk-ui';

const serializeRequest = (() => {
  const definition = loadSync(AUTH_PROTO_PATH, PROTO_LOADER_OPTIONS) as unknown as Record<
    string,
    Record<string, { requestSerialize: (v: unknown) => Buffer }>
  >;
  const method = definition['auth.v1alpha1.AuthAPI']!.GetJWT!;
  return (account: Account) => method.requestSerialize({ account }).length;
})();

/** A provider answer that breaks its protocol (e.g. RFC 7662 without a boolean `active`): a provider fault. */
const PROVIDER_FAULT = Symbol('provider fault');
/** What a token proves at each provider: the account id; PROVIDER_FAULT; absent when that provider must reject it. */
type Truth = Partial<Record<ProviderId, string | typeof PROVIDER_FAULT>>;

function expectedStatus(account: Account, truth: Truth): status {
  if (serializeRequest(account) > MAX_MESSAGE_BYTES) return status.RESOURCE_EXHAUSTED;
  const { provider, type, providerAccountId: id, accessToken: token } = account;
  if (provider === '' || Buffer.byteLength(provider) > MAX_PROVIDER_BYTES || CONTROL.test(provider)) return status.INVALID_ARGUMENT;
  if (type !== 'oauth' && type !== 'oidc') return status.INVALID_ARGUMENT;
  if (id === '' || Buffer.byteLength(id) > MAX_ACCOUNT_ID_BYTES || CONTROL.test(id)) return status.INVALID_ARGUMENT;
  if (token === '' || Buffer.byteLength(token) > MAX_ACCESS_TOKEN_BYTES || !VISIBLE_ASCII.test(token)) return status.INVALID_ARGUMENT;
  const providerType = PROVIDERS.get(provider);
  // Every provider also accepts "oauth" (next-auth v4 reports it for OIDC providers too).
  if (providerType === undefined || (providerType !== type && type !== 'oauth')) return status.INVALID_ARGUMENT;
  const proven = truth[provider as ProviderId];
  if (proven === PROVIDER_FAULT) return status.UNAVAILABLE;
  return proven === id ? status.OK : status.UNAUTHENTICATED;
}

const own = (o: Record<string, unknown>, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
/** An account id as the contract reads it: a non-empty string, or an integer in decimal. */
const accountIdOf = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : undefined;

/** Token-type rule, the same on every strategy: nothing marks the token as an ID, refresh, offline or logout token. */
function isAccessToken(c: Record<string, unknown>): boolean {
  return ['typ', 'token_use', 'token_type'].every((field) => {
    const v = own(c, field);
    return v === undefined || (typeof v === 'string' && !NOT_ACCESS_TOKEN.test(v.trim().split(':').pop()!));
  });
}

/** exp / nbf / iat, where present, are numbers and hold within the clock tolerance (introspection and userinfo claims). */
function timesHold(c: Record<string, unknown>, now: number): boolean {
  const exp = own(c, 'exp');
  const nbf = own(c, 'nbf');
  const iat = own(c, 'iat');
  for (const v of [exp, nbf, iat]) if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return false;
  if (typeof exp === 'number' && exp <= now - CLOCK_TOLERANCE_S) return false;
  if (typeof nbf === 'number' && nbf > now + CLOCK_TOLERANCE_S) return false;
  if (typeof iat === 'number' && iat > now + CLOCK_TOLERANCE_S) return false;
  return true;
}

/**
 * Client binding, the same on every strategy: a present `azp` / `client_id` (whatever its value) must
 * be an accepted audience; `aud` decides only when neither is present.
 */
function boundToUs(c: Record<string, unknown>): boolean {
  const azp = own(c, 'azp');
  const clientId = own(c, 'client_id');
  if (azp !== undefined || clientId !== undefined)
    return (azp === undefined || azp === AUDIENCE) && (clientId === undefined || clientId === AUDIENCE);
  const aud = own(c, 'aud');
  return aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE));
}

const parseObject = (text: string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * What a JWT signed with the provider's own key proves at the `jwt` strategy (docs/strategies.md):
 * a known key, an accepted header typ, exact iss, a numeric exp in the future, nbf (if any) not in the
 * future, a numeric iat (if any) not beyond the clock tolerance in the future, bound to an accepted
 * client, an access token, and an account id in `sub`. Duplicate members: the last one counts
 * (RFC 7519 §4, JSON.parse).
 */
function jwtTruth(
  header: Record<string, unknown>,
  payloadText: string,
  keyKnown: boolean,
  issuer: string,
  now: number,
): string | undefined {
  if (!keyKnown) return undefined;
  if (header.typ !== undefined && (typeof header.typ !== 'string' || !ACCEPTED_TYP.includes(header.typ.toLowerCase()))) return undefined;
  if (header.crit !== undefined) return undefined;
  let p: unknown;
  try {
    p = JSON.parse(payloadText);
  } catch {
    return undefined;
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return undefined;
  const c = p as Record<string, unknown>;
  if (own(c, 'iss') !== issuer) return undefined;
  const exp = own(c, 'exp');
  if (typeof exp !== 'number' || exp <= now - CLOCK_TOLERANCE_S) return undefined;
  const nbf = own(c, 'nbf');
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + CLOCK_TOLERANCE_S)) return undefined;
  const iat = own(c, 'iat');
  if (iat !== undefined && (typeof iat !== 'number' || iat > now + CLOCK_TOLERANCE_S)) return undefined;
  if (!boundToUs(c) || !isAccessToken(c)) return undefined;
  return accountIdOf(own(c, 'sub'));
}

/**
 * What an RFC 7662 answer proves at the `introspection` strategy (and `auto` for opaque tokens):
 * `active` must be a boolean (else the provider is at fault) and true, `iss` (if present) exact, a numeric `exp` (if present) not past, bound to an
 * accepted client, an access token, and an account id in `sub`.
 */
function introspectionTruth(answerText: string, issuer: string, now: number): string | typeof PROVIDER_FAULT | undefined {
  const c = parseObject(answerText);
  if (!c || typeof own(c, 'active') !== 'boolean') return PROVIDER_FAULT;
  if (own(c, 'active') !== true) return undefined;
  const iss = own(c, 'iss');
  if (iss !== undefined && iss !== issuer) return undefined;
  if (!timesHold(c, now) || !boundToUs(c) || !isAccessToken(c)) return undefined;
  return accountIdOf(own(c, 'sub'));
}

/**
 * What a JWT-shaped token accepted by the userinfo endpoint proves at the `userinfo` strategy: the
 * token's own claims are checked (`iss` exact if present, `sub` equal to the userinfo `sub` if
 * present, a numeric `exp` not past, bound to an accepted client, an access token); the account id is
 * the userinfo answer's `sub`.
 */
function userinfoTruth(payloadText: string, infoSub: string, issuer: string, now: number): string | undefined {
  const c = parseObject(payloadText);
  if (!c) return undefined;
  const iss = own(c, 'iss');
  if (iss !== undefined && iss !== issuer) return undefined;
  const sub = own(c, 'sub');
  if (sub !== undefined && sub !== infoSub) return undefined;
  if (!timesHold(c, now) || !boundToUs(c) || !isAccessToken(c)) return undefined;
  return accountIdOf(infoSub);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries: plain data; tokens are materialized (signed) in the property body.

const ABSENT = 'ABSENT' as const; // remove the claim / header member
type Abs = typeof ABSENT;
type Time = { rel: number } | { raw: unknown } | Abs;

/** `t` as a claim value at `now` (ABSENT stays ABSENT). */
const timeAt = (t: Time, now: number): unknown => (t === ABSENT ? ABSENT : 'rel' in t ? now + t.rel : t.raw);

/** `v` with every placeholder string named in `values` replaced, in arrays and objects too. */
function substitute(v: unknown, values: Record<string, string>): unknown {
  if (typeof v === 'string' && Object.hasOwn(values, v)) return values[v];
  if (Array.isArray(v)) return v.map((x) => substitute(x, values));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, values)]));
  return v;
}

/** Sets claim `name` as a spec says: undefined keeps the default, ABSENT removes it. */
function setClaim(claims: Record<string, unknown>, name: string, value: unknown): void {
  if (value === undefined) return;
  if (value === ABSENT) delete claims[name];
  else claims[name] = value;
}

const wellFormed = (arb: fc.Arbitrary<string>) => arb.map((s) => s.toWellFormed());
/** Keep the base value most of the time, so that some synthetic tokens are fully valid. */
const mutate = <T>(arb: fc.Arbitrary<T>, keep = 9): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: keep }, { arbitrary: arb, weight: 1 });

const OIDC_USERS = ['alice', 'bob'] as const;
const GH_USERS: Record<'octocat' | 'hubot', FakeGitHubUser> = {
  octocat: { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octocat@github.example' },
  hubot: { id: 1024, login: 'hubot', name: null, email: null },
};
const POOL = 3;

const audValue = fc.constantFrom<unknown>(
  ABSENT,
  AUDIENCE,
  'other-app',
  ['other-app'],
  ['x', AUDIENCE],
  [],
  123,
  null,
  'FRONTEND',
  ` ${AUDIENCE}`,
  API_RESOURCE,
  { aud: AUDIENCE },
);
const randomSub = wellFormed(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }));

const forgedArb = fc.record({
  kind: fc.constant('forged' as const),
  user: fc.constantFrom(...OIDC_USERS),
  signer: fc.oneof(
    { weight: 8, arbitrary: fc.constant('provider' as const) },
    { weight: 1, arbitrary: fc.constantFrom('attacker-es256' as const, 'attacker-rs256' as const, 'embedded-jwk' as const) },
    { weight: 1, arbitrary: fc.constantFrom('none' as const, 'hs256-public-pem' as const, 'hs256-public-jwk' as const) },
  ),
  noneAlg: fc.constantFrom('none', 'None', 'NONE'),
  kid: mutate(fc.constantFrom('absent', 'path', 'url', 'number', 'other', 'sql') as fc.Arbitrary<string>, 6),
  typ: mutate(
    fc.constantFrom<unknown>(
      ABSENT,
      'JWT',
      'jwt',
      'AT+JWT',
      'application/at+jwt',
      'JWT+ID',
      'id+jwt',
      'ID',
      'refresh+jwt',
      'dpop+jwt',
      '',
      'application/jwt',
    ),
    5,
  ),
  extraHeader: mutate(fc.constantFrom('jku', 'x5u', 'crit', 'jwk-attacker', 'b64-false'), 6),
  iss: mutate(fc.constantFrom<unknown>(ABSENT, 'CANARY', 'ISSUER/', 'ISSUER_UPPER', 'https://evil.example', '', 42, ['ISSUER'])),
  sub: mutate(fc.oneof(fc.constantFrom<unknown>(ABSENT, '', 'OTHER_USER', 12345, 1.5, 2 ** 60, null, ['SUB'], { id: 'SUB' }), randomSub)),
  aud: mutate(audValue),
  azp: mutate(audValue),
  client_id: mutate(audValue),
  exp: mutate<Time>(
    fc.oneof(
      fc.constant(ABSENT),
      fc.integer({ min: -86_400, max: -60 }).map((rel) => ({ rel })),
      fc.integer({ min: 60, max: 86_400 }).map((rel) => ({ rel })),
      fc.constantFrom<unknown>('9999999999', null, 1e300, -1, 0, true).map((raw) => ({ raw })),
    ),
  ),
  nbf: mutate<Time>(
    fc.oneof(
      fc.integer({ min: -3_600, max: -60 }).map((rel) => ({ rel })),
      fc.integer({ min: 60, max: 86_400 }).map((rel) => ({ rel })),
      fc.constantFrom<unknown>('0', null).map((raw) => ({ raw })),
    ),
  ),
  // iat: far from the tolerance boundary (±5 s) so that the seconds passing during a call cannot matter.
  iat: mutate<Time>(
    fc.oneof(
      fc.constant(ABSENT),
      fc.integer({ min: -3_600, max: -60 }).map((rel) => ({ rel })),
      fc.integer({ min: -3, max: 3 }).map((rel) => ({ rel })),
      fc.integer({ min: 60, max: 3_600 }).map((rel) => ({ rel })),
      fc.constantFrom<unknown>('now', null).map((raw) => ({ raw })),
    ),
  ),
  ptyp: mutate(fc.constantFrom<unknown>('Bearer', 'ID', 'id', 'Refresh', 'Offline', 'Logout', 'at+jwt', 'IDToken', 7)),
  tokenUse: mutate(fc.constantFrom<unknown>('access_token', 'access', 'refresh_token', 'id_token', 'Refresh_Token', 'id', 'refresh', 7), 7),
  tokenType: mutate(
    fc.constantFrom<unknown>(
      'Bearer',
      'access_token',
      'DPoP',
      'refresh_token',
      'ID_TOKEN',
      'urn:ietf:params:oauth:token-type:refresh_token',
      'urn:ietf:params:oauth:token-type:access_token',
    ),
    7,
  ),
  duplicateSub: mutate(fc.record({ first: fc.constantFrom('SUB', 'OTHER_USER'), last: fc.constantFrom('SUB', 'OTHER_USER') }), 5),
  protoMember: fc.boolean(),
});
type ForgedSpec = typeof forgedArb extends fc.Arbitrary<infer T> ? T : never;

/** Accounts of the fake issuer (scripted introspection and userinfo answers). */
const FK_USERS = ['fk-user-1c9e', 'fk-user-77b2'] as const;
/** Members that may mark a token as not an access token; ABSENT removes the base value. */
const typeMembers = {
  typ: mutate(fc.constantFrom<unknown>(ABSENT, 'Bearer', 'Refresh', 'ID', 'Offline', 'Logout', 'refresh', 'id', 'at+jwt', 7), 5),
  token_use: mutate(fc.constantFrom<unknown>(ABSENT, 'access_token', 'access', 'refresh_token', 'id_token', 'Refresh_Token', 'id'), 6),
  token_type: mutate(
    fc.constantFrom<unknown>(
      ABSENT,
      'Bearer',
      'bearer',
      'DPoP',
      'access_token',
      'refresh_token',
      'Refresh_Token',
      'id_token',
      'urn:ietf:params:oauth:token-type:refresh_token',
      'urn:ietf:params:oauth:token-type:access_token',
    ),
    6,
  ),
};
/** Members that bind a token to a client. */
const bindingMembers = { aud: mutate(audValue, 6), azp: mutate(audValue, 6), client_id: mutate(audValue, 6) };
const pastOrFuture = fc.oneof(
  fc.constant(ABSENT),
  fc.integer({ min: -86_400, max: -60 }).map((rel) => ({ rel })),
  fc.integer({ min: 60, max: 86_400 }).map((rel) => ({ rel })),
);
const fkIssuerValue = fc.constantFrom<unknown>(ABSENT, 'FK_ISSUER/', 'OP_ISSUER', 'https://evil.example', null);

/** An opaque token whose RFC 7662 answer (at the fake issuer) is scripted; sent to fk-intro or fk-auto. */
const introAnswerArb = fc.record({
  kind: fc.constant('intro-answer' as const),
  user: fc.constantFrom(...FK_USERS),
  home: fc.constantFrom<ProviderId>('fk-intro', 'fk-auto'),
  active: mutate(fc.constantFrom<unknown>(ABSENT, false, 'true', 1, null)),
  iss: mutate(fkIssuerValue),
  sub: mutate(fc.constantFrom<unknown>(ABSENT, '', 'OTHER_USER', 12345, null)),
  exp: mutate<Time>(pastOrFuture),
  ...typeMembers,
  ...bindingMembers,
  protoMember: fc.boolean(),
});
/** A JWT-shaped token (not verifiable: userinfo does not need it) that the fake's userinfo endpoint accepts; sent to fk-ui. */
const userinfoJwtArb = fc.record({
  kind: fc.constant('userinfo-jwt' as const),
  user: fc.constantFrom(...FK_USERS),
  iss: mutate(fkIssuerValue),
  sub: mutate(fc.constantFrom<unknown>(ABSENT, 'OTHER_USER', 12345, '')),
  exp: mutate<Time>(pastOrFuture),
  ...typeMembers,
  ...bindingMembers,
});

const MALFORMED_SHAPES = [
  '1-segment',
  '2-segments',
  '4-segments',
  '5-segments',
  'bad-base64',
  'standard-base64',
  'padded',
  'header-not-json',
  'header-array',
  'header-no-alg',
  'header-alg-number',
  'payload-not-json-signed',
  'payload-array-signed',
  'payload-invalid-utf8-signed',
  'empty-segments',
  'dots',
  'signature-tampered',
  'payload-swapped',
  'unicode-segment',
  'whitespace-inside',
] as const;
const homeArb = fc.constantFrom(...(PROVIDER_IDS as ProviderId[]));

const tokenArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('oidc-jwt' as const),
      user: fc.constantFrom(...OIDC_USERS),
      client: fc.constantFrom('frontend', 'other-app'),
      i: fc.nat(POOL - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('oidc-opaque' as const),
      user: fc.constantFrom(...OIDC_USERS),
      client: fc.constantFrom('frontend', 'other-app'),
      i: fc.nat(POOL - 1),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('github' as const),
      user: fc.constantFrom('octocat' as const, 'hubot' as const),
      app: fc.constantFrom('ours', 'other'),
      i: fc.nat(POOL - 1),
    }),
  },
  { weight: 7, arbitrary: forgedArb },
  { weight: 4, arbitrary: introAnswerArb },
  { weight: 3, arbitrary: userinfoJwtArb },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('malformed' as const), shape: fc.constantFrom(...MALFORMED_SHAPES), home: homeArb }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('random' as const),
      home: homeArb,
      value: fc.oneof(
        fc.string({ unit: 'binary-ascii', maxLength: 100 }),
        fc.stringMatching(/^[\x21-\x7e]{1,120}$/),
        wellFormed(fc.string({ unit: 'binary', maxLength: 60 })),
        fc.json({ maxDepth: 2 }),
        fc.constantFrom(
          '',
          ' ',
          'null',
          '{}',
          '[]',
          '{"sub":"alice-7d1c","aud":"frontend"}',
          'Bearer x',
          'gho_',
          '\u0000',
          'tok\nen',
          '\u007f',
          'a'.repeat(9),
          'ey',
          'eyJ.eyJ.',
          '%00',
          '../../etc/passwd',
          'http://169.254.169.254/latest/meta-data/',
        ),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('huge' as const),
      home: homeArb,
      char: fc.constantFrom('a', '.', 'Z', '~', 'é'),
      zone: fc.oneof(
        fc.record({ z: fc.constant('token-limit' as const), n: fc.constantFrom(8191, 8192, 8193) }),
        fc.record({ z: fc.constant('over-token-limit' as const), n: fc.integer({ min: 8193, max: 15_000 }) }),
        fc.record({ z: fc.constant('over-message-limit' as const), n: fc.integer({ min: 16_500, max: 40_000 }) }),
        fc.record({ z: fc.constant('message-boundary' as const), n: fc.integer({ min: -3, max: 3 }) }),
      ),
    }),
  },
);
type TokenSpec = typeof tokenArb extends fc.Arbitrary<infer T> ? T : never;

const UNKNOWN_PROVIDERS = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
  'GITHUB',
  'Op-Jwt',
  'op-jwt ',
  ' op-jwt',
  'op_jwt',
  'github\u0000',
  '',
  'x'.repeat(65),
  'é'.repeat(33),
  'op-jwt\n',
  'gïthub',
  'op-jwt/../github',
  'https://evil.example',
];
const providerArb = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ p: 'home' as const }) },
  { weight: 3, arbitrary: fc.constantFrom(...PROVIDER_IDS).map((id) => ({ p: 'id' as const, id })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constantFrom(...UNKNOWN_PROVIDERS), wellFormed(fc.string({ unit: 'binary', maxLength: 80 })))
      .map((id) => ({ p: 'id' as const, id })),
  },
);
const typeArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ t: 'match' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'other' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom('', 'OIDC', 'OAuth', 'oauth2', 'credentials', 'email', ' oidc', 'oidc\u0000', 'webauthn'),
        fc.string({ maxLength: 10 }),
      )
      .map((value) => ({ t: 'literal' as const, value })),
  },
);
const VARIANTS = [
  'upper',
  'trailing-space',
  'leading-space',
  'leading-zero',
  'zero-width',
  'rtl-override',
  'newline',
  'nul',
  'nfd',
  'fullwidth',
] as const;
const accountIdArb = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ a: 'exact' as const }) },
  { weight: 2, arbitrary: fc.constant({ a: 'other-user' as const }) },
  { weight: 3, arbitrary: fc.constantFrom(...VARIANTS).map((v) => ({ a: 'variant' as const, v })) },
  { weight: 1, arbitrary: wellFormed(fc.string({ unit: 'binary', maxLength: 120 })).map((value) => ({ a: 'literal' as const, value })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('', 'é'.repeat(129), '1'.repeat(257), 'a'.repeat(20_000), '\u2028', '{"sub":"alice-7d1c"}', '__proto__')
      .map((value) => ({ a: 'literal' as const, value })),
  },
);
const requestArb = fc.record({ token: tokenArb, provider: providerArb, type: typeArb, accountId: accountIdArb });
type RequestSpec = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function variant(id: string, v: (typeof VARIANTS)[number]): string {
  switch (v) {
    case 'upper':
      return id.toUpperCase();
    case 'trailing-space':
      return `${id} `;
    case 'leading-space':
      return ` ${id}`;
    case 'leading-zero':
      return `0${id}`;
    case 'zero-width':
      return `${id}\u200b`;
    case 'rtl-override':
      return `\u202e${id}`;
    case 'newline':
      return `${id}\n`;
    case 'nul':
      return `${id}\u0000`;
    case 'nfd':
      return `${id}e\u0301`;
    case 'fullwidth':
      return id.replace(/[a-z0-9]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));
  }
}

// ---------------------------------------------------------------------------------------------

/** A real GC for the heap figures: the shared runner cannot pass --expose-gc, so expose it at run time. */
const forceGc: (() => void) | undefined = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();
const heapMb = () => {
  forceGc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');

describe('GetJWT properties (fast-check, real gRPC server, real OIDC provider, fake GitHub)', () => {
  let op: OidcTestProvider;
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  let canary: Server;
  let canaryUrl: string;
  let canaryHits = 0;
  let fake: FakeOidcIssuer;
  let k8s: FakeKubernetes;
  let providerKey: CryptoKey;
  let providerKid: string;
  let publicPem: string;
  let publicJwkJson: string;
  let attackerEs: CryptoKey;
  let attackerEsPublic: JWK;
  let attackerRs: CryptoKey;
  const pool = { jwt: new Map<string, string>(), opaque: new Map<string, string>(), github: new Map<string, string>() };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  const figures = {
    runs: 0,
    byStatus: {} as Record<string, number>,
    byKind: {} as Record<string, number>,
    okByKind: {} as Record<string, number>,
    okVerified: 0,
    positiveRuns: 0,
    heapBaselineMb: 0,
    rssBaselineMb: 0,
    started: 0,
  };

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    canary = createServer((_req, res) => {
      canaryHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    });
    canaryUrl = (await listenOnLoopback(canary)).url;

    op = await startOidcProvider({ signingKeys: [await newSigningKey('ES256')] });
    const signing = op.signingKeys[0]!;
    providerKid = signing.kid!;
    providerKey = (await importJWK(signing, 'ES256')) as CryptoKey;
    const { d: _d, ...publicJwk } = signing;
    publicJwkJson = JSON.stringify(publicJwk);
    publicPem = createPublicKey({ key: signing as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const es = await generateKeyPair('ES256', { extractable: true });
    attackerEs = es.privateKey;
    attackerEsPublic = await exportJWK(es.publicKey);
    attackerRs = (await generateKeyPair('RS256')).privateKey;

    gh = await startFakeGitHub();
    fake = await startFakeOidcIssuer();
    k8s = await startFakeKubernetes();
    gh.apps.set('Iv1.ours', 'ours-secret');
    gh.apps.set('Iv1.other', 'other-secret');

    for (const user of OIDC_USERS) {
      for (const client of ['frontend', 'other-app']) {
        for (let i = 0; i < POOL; i++) {
          pool.jwt.set(`${user}/${client}/${i}`, await op.jwtToken(USERS[user]!, { clientId: client }));
          pool.opaque.set(`${user}/${client}/${i}`, await op.opaqueToken(USERS[user]!, { clientId: client }));
        }
      }
    }
    for (const user of ['octocat', 'hubot'] as const) {
      for (const app of ['ours', 'other']) {
        for (let i = 0; i < POOL; i++) {
          const token = `gho_${randomBytes(18).toString('base64url')}`;
          gh.issue(token, GH_USERS[user], app === 'ours' ? 'Iv1.ours' : 'Iv1.other');
          pool.github.set(`${user}/${app}/${i}`, token);
        }
      }
    }

    svc = await startAuthJwt({
      clockTolerance: `${CLOCK_TOLERANCE_S}s`,
      providers: [
        { id: 'op-jwt', type: 'oidc', issuer: op.issuer, verification: 'jwt', audiences: [AUDIENCE] },
        {
          id: 'op-intro',
          type: 'oidc',
          issuer: op.issuer,
          verification: 'introspection',
          audiences: [AUDIENCE],
          clientId: INTROSPECTION_CLIENT.id,
          clientSecret: INTROSPECTION_CLIENT.secret,
        },
        fakeGitHubProvider(gh, { timeout: '2s' }),
        fakeGitHubProvider(gh, { id: 'github-bound', clientId: 'Iv1.ours', clientSecret: 'ours-secret', timeout: '2s' }),
        {
          id: 'fk-intro',
          type: 'oidc',
          issuer: fake.issuer,
          verification: 'introspection',
          audiences: [AUDIENCE],
          clientId: fake.client.id,
          clientSecret: fake.client.secret,
        },
        {
          id: 'fk-auto',
          type: 'oidc',
          issuer: fake.issuer,
          verification: 'auto',
          audiences: [AUDIENCE],
          clientId: fake.client.id,
          clientSecret: fake.client.secret,
        },
        { id: 'fk-ui', type: 'oidc', issuer: fake.issuer, verification: 'userinfo', audiences: [AUDIENCE] },
        // Policy class (its own test below; not in PROVIDER_IDS, so the adversarial oracle is unchanged).
        {
          id: POLICY_PROVIDER,
          type: 'oidc',
          issuer: fake.issuer,
          verification: 'jwt',
          audiences: [AUDIENCE],
          allow: [
            { name: 'email', expression: "claims.email_verified == true && claims.email.endsWith('@example.com')" },
            { name: 'engineering', expression: "'engineering' in claims.?groups.orValue([])" },
          ],
          claims: { roles: 'claims.realm_access.roles', tenant: "claims.email.split('@')[1]" },
        },
        // Kubernetes class (issue 21; its own test below, not in PROVIDER_IDS).
        {
          id: KUBERNETES_PROVIDER,
          audiences: ['authjwt'],
          kubernetes: { issuer: k8s.issuer, apiServer: k8s.apiServer, tokenFile: k8s.tokenFile, caFile: k8s.caFile },
          allow: [{ name: 'team', expression: "claims['kubernetes.io'].namespace.matches('^team-[a-z0-9-]+$')" }],
          claims: { namespace: "claims['kubernetes.io'].namespace" },
        },
      ],
    });

    // Warm-up (discovery, JWKS, connections, JIT), then the memory baseline.
    for (let i = 0; i < 10; i++) {
      await svc.getJwt({
        provider: 'op-jwt',
        type: 'oidc',
        providerAccountId: USERS.alice!.sub,
        accessToken: pool.jwt.get(`alice/frontend/${i % POOL}`)!,
      });
      await svc.getJwt({
        provider: 'op-intro',
        type: 'oidc',
        providerAccountId: USERS.alice!.sub,
        accessToken: pool.opaque.get(`alice/frontend/${i % POOL}`)!,
      });
      await svc.getJwt({ provider: 'github', type: 'oauth', providerAccountId: '1', accessToken: `gho_warmup_${i}` });
      for (const provider of ['fk-intro', 'fk-auto', 'fk-ui'])
        await svc.getJwt({ provider, type: 'oidc', providerAccountId: FK_USERS[0], accessToken: `fk_warmup_${provider}_${i}` });
    }
    svc.logs.length = 0; // the helper keeps every log line: not the service's memory
    figures.heapBaselineMb = heapMb();
    figures.rssBaselineMb = process.memoryUsage().rss / 2 ** 20;
    figures.started = performance.now();
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await svc?.stop();
    await gh?.close();
    await op?.close();
    await fake?.close();
    await k8s?.close();
    canary?.close();
  });

  /** Signs `payloadText` as the spec says; returns the token and whether the provider's key verifies it. */
  async function forge(
    spec: ForgedSpec,
    now: number,
  ): Promise<{ token: string; header: Record<string, unknown>; payloadText: string; keyKnown: boolean }> {
    const user = USERS[spec.user]!;
    const other = USERS[spec.user === 'alice' ? 'bob' : 'alice']!;
    const placeholders = {
      CANARY: `${canaryUrl}/`,
      'ISSUER/': `${op.issuer}/`,
      ISSUER_UPPER: op.issuer.toUpperCase(),
      SUB: user.sub,
      OTHER_USER: other.sub,
    };
    const resolve = (v: unknown) => substitute(v, placeholders);
    const time = (t: Time) => timeAt(t, now);
    const claims: Record<string, unknown> = {
      iss: op.issuer,
      sub: user.sub,
      aud: API_RESOURCE,
      client_id: AUDIENCE,
      exp: now + 600,
      iat: now,
      jti: randomBytes(12).toString('base64url'),
      scope: 'api',
    };
    const set = (name: string, value: unknown) => setClaim(claims, name, value);
    set('iss', resolve(spec.iss));
    set('sub', resolve(spec.sub));
    set('aud', resolve(spec.aud));
    set('azp', resolve(spec.azp));
    set('client_id', resolve(spec.client_id));
    set('exp', spec.exp === undefined ? undefined : time(spec.exp));
    set('nbf', spec.nbf === undefined ? undefined : time(spec.nbf));
    set('iat', spec.iat === undefined ? undefined : time(spec.iat));
    set('typ', spec.ptyp);
    set('token_use', spec.tokenUse);
    set('token_type', spec.tokenType);
    // Hand-built JSON: duplicated "sub" members and an own "__proto__" member are not expressible as objects.
    const members = Object.entries(claims).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    if (spec.duplicateSub) {
      const i = members.findIndex((m) => m.startsWith('"sub":'));
      if (i >= 0) members.splice(i, 1);
      members.unshift(`"sub":${JSON.stringify(resolve(spec.duplicateSub.first))}`);
      members.push(`"sub":${JSON.stringify(resolve(spec.duplicateSub.last))}`);
    }
    if (spec.protoMember)
      members.splice(1, 0, `"__proto__":${JSON.stringify({ sub: other.sub, aud: AUDIENCE, iss: op.issuer, admin: true })}`);
    const payloadText = `{${members.join(',')}}`;

    const alg =
      spec.signer === 'provider' || spec.signer === 'attacker-es256' || spec.signer === 'embedded-jwk'
        ? 'ES256'
        : spec.signer === 'attacker-rs256'
          ? 'RS256'
          : spec.signer === 'none'
            ? spec.noneAlg
            : 'HS256';
    const header: Record<string, unknown> = { alg, typ: 'at+jwt', kid: providerKid };
    const kids: Record<string, unknown> = {
      path: '../../../../etc/passwd',
      url: `${canaryUrl}/keys/${providerKid}`,
      number: 42,
      other: 'es256-notakey',
      sql: "' OR '1'='1",
    };
    if (spec.kid === 'absent') delete header.kid;
    else if (spec.kid !== undefined) header.kid = kids[spec.kid];
    if (spec.typ === ABSENT) delete header.typ;
    else if (spec.typ !== undefined) header.typ = spec.typ;
    if (spec.extraHeader === 'jku') header.jku = `${canaryUrl}/jwks.json`;
    if (spec.extraHeader === 'x5u') header.x5u = `${canaryUrl}/cert.pem`;
    if (spec.extraHeader === 'crit') Object.assign(header, { crit: ['x-authjwt'], 'x-authjwt': true });
    if (spec.extraHeader === 'jwk-attacker') header.jwk = attackerEsPublic;
    if (spec.extraHeader === 'b64-false') Object.assign(header, { b64: false, crit: ['b64'] });
    if (spec.signer === 'embedded-jwk') header.jwk = attackerEsPublic;

    const payload = new TextEncoder().encode(payloadText);
    let token: string;
    if (spec.signer === 'none') {
      token = `${b64(JSON.stringify(header))}.${b64(payload)}.`;
    } else if (header.b64 === false) {
      // jose refuses to produce an unencoded-payload JWT; hand-build it (the signature is not even needed).
      token = `${b64(JSON.stringify(header))}.${b64(payload)}.${b64(randomBytes(64))}`;
    } else {
      const key =
        spec.signer === 'provider'
          ? providerKey
          : spec.signer === 'attacker-rs256'
            ? attackerRs
            : spec.signer === 'attacker-es256' || spec.signer === 'embedded-jwk'
              ? attackerEs
              : new TextEncoder().encode(spec.signer === 'hs256-public-pem' ? publicPem : publicJwkJson);
      // `crit` option: let jose produce a token with the extension the verifier must refuse.
      token = await new CompactSign(payload).setProtectedHeader(header as never).sign(key, { crit: { 'x-authjwt': true } });
    }
    const keyKnown = spec.signer === 'provider' && header.b64 !== false && (header.kid === undefined || header.kid === providerKid);
    return { token, header, payloadText, keyKnown };
  }

  async function malformed(shape: (typeof MALFORMED_SHAPES)[number]): Promise<string> {
    const jwt = pool.jwt.get('alice/frontend/0')!;
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const signed = async (payload: Uint8Array) =>
      new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid: providerKid, typ: 'at+jwt' }).sign(providerKey);
    switch (shape) {
      case '1-segment':
        return h;
      case '2-segments':
        return `${h}.${p}`;
      case '4-segments':
        return `${h}.${p}.${s}.${s}`;
      case '5-segments':
        return `${h}.${p}.${s}.${p}.${s}`;
      case 'bad-base64':
        return `${h}.${p}!.${s}`;
      case 'standard-base64':
        return `${h}.${p}.${s}+/`;
      case 'padded':
        return `${h}==.${p}.${s}`;
      case 'header-not-json':
        return `${b64('not json')}.${p}.${s}`;
      case 'header-array':
        return `${b64('[{"alg":"ES256"}]')}.${p}.${s}`;
      case 'header-no-alg':
        return `${b64('{"typ":"at+jwt"}')}.${p}.${s}`;
      case 'header-alg-number':
        return `${b64('{"alg":256}')}.${p}.${s}`;
      case 'payload-not-json-signed':
        return signed(new TextEncoder().encode('not json'));
      case 'payload-array-signed':
        return signed(new TextEncoder().encode('[{"sub":"alice-7d1c"}]'));
      case 'payload-invalid-utf8-signed':
        return signed(Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]));
      case 'empty-segments':
        return '..';
      case 'dots':
        return '.'.repeat(20);
      case 'signature-tampered':
        return `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`;
      case 'payload-swapped':
        return `${h}.${pool.jwt.get('bob/frontend/0')!.split('.')[1]}.${s}`;
      case 'unicode-segment':
        return `${h}.${p}é.${s}`;
      case 'whitespace-inside':
        return `${h}. ${p}.${s}`;
    }
  }

  /**
   * A token of the fake issuer: an opaque token with a scripted introspection answer, or a JWT-shaped
   * token its userinfo endpoint accepts. Registered at the fake; its truth computed by the oracle.
   */
  function fakeIssued(
    spec: Extract<TokenSpec, { kind: 'intro-answer' | 'userinfo-jwt' }>,
    now: number,
  ): { token: Promise<string>; truth: Truth; nominal: string; other: string } {
    const user = spec.user;
    const other = FK_USERS.find((u) => u !== user)!;
    const resolve = (v: unknown) => substitute(v, { 'FK_ISSUER/': `${fake.issuer}/`, OP_ISSUER: op.issuer, OTHER_USER: other });
    const claims: Record<string, unknown> =
      spec.kind === 'intro-answer'
        ? {
            active: true,
            iss: fake.issuer,
            sub: user,
            client_id: AUDIENCE,
            exp: now + 300,
            iat: now,
            scope: 'openid',
            token_type: 'Bearer',
          }
        : {
            iss: fake.issuer,
            sub: user,
            azp: AUDIENCE,
            aud: 'account',
            exp: now + 300,
            iat: now,
            jti: randomBytes(12).toString('base64url'),
          };
    const set = (name: string, value: unknown) => setClaim(claims, name, value);
    if (spec.kind === 'intro-answer') set('active', spec.active);
    set('iss', resolve(spec.iss));
    set('sub', resolve(spec.sub));
    set('exp', spec.exp === undefined ? undefined : timeAt(spec.exp, now));
    for (const name of ['typ', 'token_use', 'token_type', 'aud', 'azp', 'client_id'] as const) set(name, resolve(spec[name]));
    const members = Object.entries(claims).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    // An own "__proto__" member pretending to be an active answer for the other user.
    if (spec.kind === 'intro-answer' && spec.protoMember)
      members.splice(1, 0, `"__proto__":${JSON.stringify({ active: true, sub: other, client_id: AUDIENCE, iss: fake.issuer })}`);
    const text = `{${members.join(',')}}`;
    if (spec.kind === 'intro-answer') {
      const token = `fk_${randomBytes(18).toString('base64url')}`;
      fake.introspection.set(token, text);
      const proven = introspectionTruth(text, fake.issuer, now);
      return {
        token: Promise.resolve(token),
        truth: proven === undefined ? {} : { 'fk-intro': proven, 'fk-auto': proven },
        nominal: accountIdOf(own(JSON.parse(text), 'sub')) ?? user,
        other,
      };
    }
    // Signed with a key the fake does not publish: fk-auto (jwt for JWT-shaped tokens) must refuse it.
    const token = new CompactSign(new TextEncoder().encode(text))
      .setProtectedHeader({ alg: 'ES256', kid: fake.kid, typ: 'at+jwt' })
      .sign(attackerEs);
    const proven = userinfoTruth(text, user, fake.issuer, now);
    return {
      token: token.then((t) => {
        fake.userinfo.set(t, { sub: user, email: `${user}@fake.example` });
        return t;
      }),
      truth: proven === undefined ? {} : { 'fk-ui': proven },
      nominal: user,
      other,
    };
  }

  /** The access token of a spec and what it proves at each provider. */
  async function materialize(
    spec: TokenSpec,
    account: () => Omit<Account, 'accessToken'>,
  ): Promise<{ token: string; truth: Truth; nominal: string; other: string; home: ProviderId }> {
    const alice = USERS.alice!.sub;
    switch (spec.kind) {
      case 'oidc-jwt': {
        const sub = USERS[spec.user]!.sub;
        const token = pool.jwt.get(`${spec.user}/${spec.client}/${spec.i}`)!;
        // JWT access tokens are not introspectable at this provider (unsupported_token_type → rejected).
        return {
          token,
          truth: spec.client === AUDIENCE ? { 'op-jwt': sub } : {},
          nominal: sub,
          other: USERS[spec.user === 'alice' ? 'bob' : 'alice']!.sub,
          home: 'op-jwt',
        };
      }
      case 'oidc-opaque': {
        const sub = USERS[spec.user]!.sub;
        const token = pool.opaque.get(`${spec.user}/${spec.client}/${spec.i}`)!;
        return {
          token,
          truth: spec.client === AUDIENCE ? { 'op-intro': sub } : {},
          nominal: sub,
          other: USERS[spec.user === 'alice' ? 'bob' : 'alice']!.sub,
          home: 'op-intro',
        };
      }
      case 'github': {
        const id = String(GH_USERS[spec.user].id);
        const token = pool.github.get(`${spec.user}/${spec.app}/${spec.i}`)!;
        const truth: Truth = spec.app === 'ours' ? { github: id, 'github-bound': id } : { github: id };
        return {
          token,
          truth,
          nominal: id,
          other: String(GH_USERS[spec.user === 'octocat' ? 'hubot' : 'octocat'].id),
          home: spec.app === 'ours' ? 'github-bound' : 'github',
        };
      }
      case 'forged': {
        const now = Math.floor(Date.now() / 1000);
        const f = await forge(spec, now);
        const proven = jwtTruth(f.header, f.payloadText, f.keyKnown, op.issuer, now);
        let claimed: string | undefined;
        try {
          claimed = accountIdOf((JSON.parse(f.payloadText) as Record<string, unknown>).sub);
        } catch {
          claimed = undefined;
        }
        const user = USERS[spec.user]!;
        return {
          token: f.token,
          truth: proven === undefined ? {} : { 'op-jwt': proven },
          nominal: claimed ?? user.sub,
          other: USERS[spec.user === 'alice' ? 'bob' : 'alice']!.sub,
          home: 'op-jwt',
        };
      }
      case 'intro-answer':
      case 'userinfo-jwt': {
        const now = Math.floor(Date.now() / 1000);
        const m = fakeIssued(spec, now);
        return {
          token: await m.token,
          truth: m.truth,
          nominal: m.nominal,
          other: m.other,
          home: spec.kind === 'intro-answer' ? spec.home : 'fk-ui',
        };
      }
      case 'malformed':
        return { token: await malformed(spec.shape), truth: {}, nominal: alice, other: USERS.bob!.sub, home: spec.home };
      case 'random':
        return { token: spec.value, truth: {}, nominal: alice, other: USERS.bob!.sub, home: spec.home };
      case 'huge': {
        if (spec.zone.z !== 'message-boundary')
          return { token: spec.char.repeat(spec.zone.n), truth: {}, nominal: alice, other: USERS.bob!.sub, home: spec.home };
        // A token making the whole serialized request exactly MAX_MESSAGE_BYTES + delta bytes (when the other fields allow).
        const rest = account();
        const target = MAX_MESSAGE_BYTES + spec.zone.n;
        let lo = 0;
        let hi = target;
        while (lo < hi) {
          const mid = Math.ceil((lo + hi) / 2);
          if (serializeRequest({ ...rest, accessToken: 'a'.repeat(mid) }) <= target) lo = mid;
          else hi = mid - 1;
        }
        return { token: 'a'.repeat(lo), truth: {}, nominal: alice, other: USERS.bob!.sub, home: spec.home };
      }
    }
  }

  async function buildRequest(spec: RequestSpec): Promise<{ account: Account; truth: Truth }> {
    // The huge/boundary token needs the other fields first; they depend only on the token's home and
    // nominal account, which do not depend on the token bytes.
    let provider = '';
    let type = '';
    let providerAccountId = '';
    const decide = (home: ProviderId, nominal: string, other: string) => {
      provider = spec.provider.p === 'home' ? home : spec.provider.id;
      const providerType = PROVIDERS.get(provider) ?? 'oidc';
      type =
        spec.type.t === 'match' ? providerType : spec.type.t === 'other' ? (providerType === 'oidc' ? 'oauth' : 'oidc') : spec.type.value;
      const a = spec.accountId;
      providerAccountId = a.a === 'exact' ? nominal : a.a === 'other-user' ? other : a.a === 'variant' ? variant(nominal, a.v) : a.value;
    };
    if (spec.token.kind === 'huge') decide(spec.token.home, USERS.alice!.sub, USERS.bob!.sub);
    const m = await materialize(spec.token, () => ({ provider, type, providerAccountId }));
    decide(m.home, m.nominal, m.other);
    return { account: { provider, type, providerAccountId, accessToken: m.token }, truth: m.truth };
  }

  const statusName = (code: number) => status[code] ?? String(code);

  async function checkCall(account: Account, expected: status, res: CallResult, logsFrom: number, secretToken: boolean): Promise<void> {
    const newLogs = svc.logs.slice(logsFrom).join('');
    if (secretToken) assert.ok(!newLogs.includes(account.accessToken), 'a log line contains the access token');
    if (res.token) assert.ok(!newLogs.includes(res.token.split('.')[2]!), 'a log line contains the minted token');
    assert.ok(
      res.code !== status.INTERNAL && res.code !== status.UNKNOWN,
      `never INTERNAL/UNKNOWN: got ${statusName(res.code)} (${res.details})`,
    );
    assert.equal(statusName(res.code), statusName(expected), `details: ${res.details}`);
    if (account.accessToken.length > 8)
      assert.ok(!(res.details ?? '').includes(account.accessToken), 'error details contain the access token');
    if (res.code === status.OK) {
      const { payload } = await svc.verify(res.token!);
      assert.equal(payload.sub, `${account.provider}:${account.providerAccountId}`);
      assert.equal(payload.provider, account.provider);
      figures.okVerified++;
    }
  }

  it('adversarial requests get exactly the status of the oracle, never INTERNAL/UNKNOWN, never echo the token', async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, async (spec) => {
        const { account, truth } = await buildRequest(spec);
        const expected = expectedStatus(account, truth);
        const logsFrom = svc.logs.length;
        const res = await svc.getJwt(account);
        figures.runs++;
        figures.byStatus[statusName(res.code)] = (figures.byStatus[statusName(res.code)] ?? 0) + 1;
        figures.byKind[spec.token.kind] = (figures.byKind[spec.token.kind] ?? 0) + 1;
        if (res.code === status.OK) figures.okByKind[spec.token.kind] = (figures.okByKind[spec.token.kind] ?? 0) + 1;
        // Tokens long and random enough that finding them in a log line cannot be a coincidence.
        const secretToken = ['oidc-jwt', 'oidc-opaque', 'github', 'forged', 'intro-answer', 'userinfo-jwt'].includes(spec.token.kind);
        await checkCall(account, expected, res, logsFrom, secretToken);
      }),
      { numRuns: RUNS },
    );
    for (const s of ['OK', 'INVALID_ARGUMENT', 'UNAUTHENTICATED', 'RESOURCE_EXHAUSTED'])
      assert.ok((figures.byStatus[s] ?? 0) > 0, `the run produced no ${s} (generators too narrow)`);
    assert.equal(canaryHits, 0, 'a URL from a token (iss, kid, jku, x5u) was fetched');
  });

  it('after the adversarial runs, metric label values come only from config and fixed sets (bounded cardinality)', async () => {
    const text = await (await fetch(`${svc.httpUrl}/metrics`)).text();
    const values = new Map<string, Set<string>>();
    for (const [, labels] of text.matchAll(/^[a-z_:]+\{([^}]*)\}/gm)) {
      for (const [, name, value] of labels!.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) {
        if (!values.has(name!)) values.set(name!, new Set());
        values.get(name!)!.add(value!);
      }
    }
    const allowed = new Set([...PROVIDER_IDS, POLICY_PROVIDER, KUBERNETES_PROVIDER, '_unknown']);
    const providers = [...(values.get('provider') ?? [])];
    assert.ok(providers.length > 0, 'no provider label found in /metrics');
    assert.deepEqual(
      providers.filter((p) => !allowed.has(p)),
      [],
      'provider label values outside the configured ids',
    );
    const outcomes = [...(values.get('outcome') ?? [])];
    assert.ok(outcomes.length > 0, 'no outcome label found in /metrics');
    assert.deepEqual(
      outcomes.filter((o) => !(OUTCOMES as readonly string[]).includes(o)),
      [],
      'outcome label values outside the fixed set',
    );
    const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
    console.log(
      `# property: /metrics after ${figures.runs} adversarial calls: ${series} series, label values: ${JSON.stringify(Object.fromEntries([...values].filter(([k]) => ['provider', 'outcome', 'endpoint', 'result', 'grpc_code'].includes(k)).map(([k, v]) => [k, [...v]])))}`,
    );
  });

  it('genuine tokens (positive control): OK, and the minted token verifies through discovery + JWKS', async () => {
    const genuine = fc.record({
      provider: fc.constantFrom<ProviderId>(...(PROVIDER_IDS as ProviderId[])),
      oidcUser: fc.constantFrom(...OIDC_USERS),
      ghUser: fc.constantFrom('octocat' as const, 'hubot' as const),
      fkUser: fc.constantFrom(...FK_USERS),
    });
    await fc.assert(
      fc.asyncProperty(genuine, async ({ provider, oidcUser, ghUser, fkUser }) => {
        let account: Account;
        const now = Math.floor(Date.now() / 1000);
        if (provider === 'fk-intro' || provider === 'fk-auto') {
          const accessToken = `fk_${randomBytes(18).toString('base64url')}`;
          fake.introspection.set(accessToken, {
            active: true,
            iss: fake.issuer,
            sub: fkUser,
            client_id: AUDIENCE,
            exp: now + 300,
            token_type: 'Bearer',
          });
          account = { provider, type: 'oidc', providerAccountId: fkUser, accessToken };
        } else if (provider === 'fk-ui') {
          const accessToken = await fake.sign({ iss: fake.issuer, sub: fkUser, azp: AUDIENCE, aud: 'account', exp: now + 300, iat: now });
          fake.userinfo.set(accessToken, { sub: fkUser });
          account = { provider, type: 'oidc', providerAccountId: fkUser, accessToken };
        } else if (provider === 'op-jwt' || provider === 'op-intro') {
          const user = USERS[oidcUser]!;
          const accessToken = provider === 'op-jwt' ? await op.jwtToken(user) : await op.opaqueToken(user);
          account = { provider, type: 'oidc', providerAccountId: user.sub, accessToken };
        } else {
          const accessToken = `gho_${randomBytes(18).toString('base64url')}`;
          gh.issue(accessToken, GH_USERS[ghUser], 'Iv1.ours');
          account = { provider, type: 'oauth', providerAccountId: String(GH_USERS[ghUser].id), accessToken };
        }
        const logsFrom = svc.logs.length;
        const res = await svc.getJwt(account);
        figures.positiveRuns++;
        await checkCall(account, status.OK, res, logsFrom, true);
        const { payload } = await svc.verify(res.token!);
        assert.equal(payload.iss, svc.config.issuer);
        assert.equal(payload.aud, 'internal-services');
        assert.equal(typeof payload.jti, 'string');
      }),
      { numRuns: Math.max(20, Math.round(RUNS / 20)) },
    );
  });

  it("policy: random identities against two rules and two computed claims get exactly the oracle's decision, rule and claims; no value leaks", async () => {
    const ABSENT_ = Symbol('absent');
    const marker = () => `v${randomBytes(5).toString('hex')}`;
    const str = fc.oneof(
      { weight: 3, arbitrary: fc.constant('engineering') },
      { weight: 2, arbitrary: fc.constantFrom('Engineering', ' engineering', 'engineering ', 'sales', '__proto__', 'constructor', '') },
      { weight: 1, arbitrary: fc.constant(0).map(marker) },
      { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
    );
    const identity = fc.record({
      email: fc.oneof(
        { weight: 1, arbitrary: fc.constant<unknown>(ABSENT_) },
        {
          weight: 5,
          arbitrary: fc
            .record({
              local: fc.oneof(fc.constant(0).map(marker), fc.constantFrom('a@b', '')),
              domain: fc.oneof(
                { weight: 3, arbitrary: fc.constant('@example.com') },
                {
                  weight: 2,
                  arbitrary: fc.constantFrom('@Example.com', '@sub.example.com', '@example.com.evil', 'example.com', '@evil.example'),
                },
              ),
            })
            .map(({ local, domain }) => `${local}${domain}`),
        },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 42, true, ['a@example.com']) },
      ),
      email_verified: fc.oneof(
        { weight: 3, arbitrary: fc.constant<unknown>(true) },
        { weight: 2, arbitrary: fc.constantFrom<unknown>(ABSENT_, false, 'true', 1, null) },
      ),
      groups: fc.oneof(
        { weight: 1, arbitrary: fc.constant<unknown>(ABSENT_) },
        { weight: 4, arbitrary: fc.array(str, { maxLength: 5 }) },
        { weight: 2, arbitrary: fc.constantFrom<unknown>('engineering', null, {}, { engineering: 1 }, [1, 'engineering']) },
        // One string over the input cap (4096 characters): the whole identity is refused. One: the token must stay under 8 KiB.
        { weight: 1, arbitrary: fc.constant<unknown>(['engineering', 'x'.repeat(4097)]) },
      ),
      realm_access: fc.oneof(
        fc.constant<unknown>(ABSENT_),
        fc.array(str, { maxLength: 4 }).map((roles) => ({ roles })),
        fc.constantFrom<unknown>({ roles: 'deployer' }, { roles: [1] }, {}, 'deployer', null, {
          roles: Array.from({ length: 101 }, () => 'r'),
        }),
      ),
    });
    type Identity = { email: unknown; email_verified: unknown; groups: unknown; realm_access: unknown };
    const present = (v: unknown) => v !== ABSENT_;
    const tooLong = (v: unknown): boolean =>
      typeof v === 'string'
        ? v.length > 4096
        : Array.isArray(v)
          ? v.some(tooLong)
          : typeof v === 'object' && v !== null && Object.values(v).some(tooLong);
    /** What the policy must decide (docs/policy.md): the first rule that does not hold is named; claims only when allowed. */
    const oracle = (id: Identity): { rule: string } | { claims: Record<string, unknown> } => {
      if (Object.values(id).some(tooLong)) return { rule: 'email' }; // input over a cap: refused before any rule
      const emailOk = id.email_verified === true && typeof id.email === 'string' && id.email.endsWith('@example.com');
      if (!emailOk) return { rule: 'email' };
      const g = id.groups;
      const engineering = !present(g)
        ? false
        : Array.isArray(g)
          ? g.includes('engineering')
          : typeof g === 'object' && g !== null && Object.hasOwn(g, 'engineering');
      if (!engineering) return { rule: 'engineering' };
      const claims: Record<string, unknown> = { tenant: (id.email as string).split('@')[1] };
      const ra = id.realm_access;
      const roles = typeof ra === 'object' && ra !== null && !Array.isArray(ra) ? (ra as { roles?: unknown }).roles : undefined;
      if (typeof roles === 'string') claims.roles = roles;
      else if (Array.isArray(roles) && roles.length <= 100 && roles.every((r) => typeof r === 'string' && r.length <= 256))
        claims.roles = roles;
      return { claims };
    };
    const seen = { ok: 0, email: 0, engineering: 0 };
    await fc.assert(
      fc.asyncProperty(identity, async (id) => {
        const now = Math.floor(Date.now() / 1000);
        const sub = `pol-${randomBytes(4).toString('hex')}`;
        const claims = Object.fromEntries(Object.entries(id).filter(([, v]) => present(v)));
        const accessToken = await fake.sign({ iss: fake.issuer, sub, azp: AUDIENCE, exp: now + 300, iat: now, ...claims });
        const logsFrom = svc.logs.length;
        const res = await svc.getJwt({ provider: POLICY_PROVIDER, type: 'oidc', providerAccountId: sub, accessToken });
        const want = oracle(id);
        if ('rule' in want) {
          assert.equal(res.code, status.PERMISSION_DENIED, `${JSON.stringify(id)}: ${res.details}`);
          assert.match(
            res.details!,
            /^access denied(: a policy rule could not be evaluated)? (by policy )?\(ERR_AUTHJWT_POLICY_(DENIED|ERROR)\)$/,
          );
          const line = svc.logs.slice(logsFrom).find((l) => l.includes('"outcome":"permission_denied"'));
          assert.ok(line, 'the denial is logged');
          assert.equal((JSON.parse(line) as { rule?: string }).rule, want.rule, JSON.stringify(id));
          seen[want.rule as 'email' | 'engineering']++;
          // No value of the identity reaches the caller or the log (markers are random, so any hit is a leak).
          const out = `${res.details} ${res.metadata?.get('grpc-status-details-bin')[0]?.toString('latin1') ?? ''} ${svc.logs.slice(logsFrom).join('')}`;
          for (const v of JSON.stringify(claims).match(/v[0-9a-f]{10}/g) ?? []) assert.ok(!out.includes(v), `value ${v} leaked`);
        } else {
          assert.equal(res.code, status.OK, `${JSON.stringify(id)}: ${res.details}`);
          const { payload } = await svc.verify(res.token!);
          assert.deepEqual({ roles: payload.roles, tenant: payload.tenant }, { roles: undefined, ...want.claims }, JSON.stringify(id));
          seen.ok++;
        }
      }),
      { numRuns: Math.max(100, Math.round(RUNS / 25)) },
    );
    console.log(`# property: policy class ${JSON.stringify(seen)}`);
    for (const [k, n] of Object.entries(seen)) assert.ok(n > 0, `the run produced no ${k} outcome (generators too narrow)`);
  });

  it("kubernetes: random projected service-account tokens get exactly the oracle's status (workload-identity.md §3); never INTERNAL", async () => {
    const API = k8s.issuer;
    const rogue = await k8s.rogueKid();
    /** Mostly a genuine value, sometimes one of the bad ones: each run changes few things, so every outcome shows up. */
    const mostly = <V>(good: V[], bad: V[]) =>
      fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });
    const token = fc.record({
      namespace: mostly(['team-payments', 'team-a1'], ['sandbox', 'kube-system', 'Team-x', 'team_x']),
      name: mostly(['api', 'worker'], ['default']),
      aud: mostly<unknown>(
        [['authjwt'], 'authjwt'],
        [[API], ['authjwt', API], ['vault'], ['authjwt', 'https://kubernetes.default.svc'], []],
      ),
      shift: mostly([0], [-7200, 3600]),
      expirationSeconds: mostly([600, 3600], [48 * 3600]),
      warnAfter: fc.constantFrom<number | undefined>(undefined, undefined, 3607),
      mutation: mostly(['none'], ['sub', 'no-kubernetes.io', 'iss', 'kid', 'no-exp']),
      accountId: mostly(['own'], ['other']),
      type: mostly(['oidc'], ['oauth']),
    });
    type T = typeof token extends fc.Arbitrary<infer U> ? U : never;
    /** From the documented contract, in its order: malformed request; verification; the default account; binding; policy. */
    const oracle = (t: T): status => {
      if (t.type !== 'oidc') return status.INVALID_ARGUMENT; // accountTypes of a kubernetes provider: [oidc]
      if (t.mutation !== 'none') return status.UNAUTHENTICATED;
      const longLived = t.warnAfter === undefined ? t.expirationSeconds : Math.min(t.warnAfter, 365 * 86400);
      const expiresIn = t.shift + (t.warnAfter ?? t.expirationSeconds);
      if (t.shift > CLOCK_TOLERANCE_S || expiresIn <= 0 || longLived > 24 * 3600) return status.UNAUTHENTICATED;
      const auds = typeof t.aud === 'string' ? [t.aud] : (t.aud as string[]);
      if (auds.some((a) => a === API || a === 'https://kubernetes.default.svc') || !auds.includes('authjwt')) return status.UNAUTHENTICATED;
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(t.namespace)) return status.UNAUTHENTICATED; // not a Kubernetes name
      if (t.name === 'default') return status.PERMISSION_DENIED;
      if (t.accountId !== 'own') return status.UNAUTHENTICATED;
      return /^team-[a-z0-9-]+$/.test(t.namespace) ? status.OK : status.PERMISSION_DENIED;
    };
    const seen: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(token, async (t) => {
        const sa = { namespace: t.namespace, name: t.name, uid: '1a2b3c4d-0000-4000-8000-000000000001' };
        const issued = await k8s.issue(sa, {
          audiences: t.aud as string[],
          shift: t.shift,
          expirationSeconds: t.warnAfter === undefined ? t.expirationSeconds : 365 * 86400,
          warnAfterSeconds: t.warnAfter,
          kid: t.mutation === 'kid' ? rogue : undefined,
          mutate: (p) => {
            if (typeof t.aud === 'string') p.aud = t.aud;
            if (t.mutation === 'sub') p.sub = 'system:serviceaccount:kube-system:admin';
            if (t.mutation === 'no-kubernetes.io') delete p['kubernetes.io'];
            if (t.mutation === 'iss') p.iss = 'https://other-cluster.example';
            if (t.mutation === 'no-exp') delete p.exp;
          },
        });
        const own = `system:serviceaccount:${t.namespace}:${t.name}`;
        const res = await svc.getJwt({
          provider: KUBERNETES_PROVIDER,
          type: t.type,
          providerAccountId: t.accountId === 'own' ? own : 'system:serviceaccount:team-payments:impostor',
          accessToken: issued.token,
        });
        const want = oracle(t);
        assert.equal(res.code, want, `${JSON.stringify(t)}: ${status[res.code]} ${res.details}`);
        assert.ok(!res.details?.includes(issued.token), 'the token is never echoed');
        if (want === status.OK) {
          const { payload } = await svc.verify(res.token!);
          assert.deepEqual([payload.sub, payload.namespace], [`${KUBERNETES_PROVIDER}:${own}`, t.namespace]);
        }
        seen[status[want]] = (seen[status[want]] ?? 0) + 1;
      }),
      { numRuns: Math.max(100, Math.round(RUNS / 25)) },
    );
    console.log(`# property: kubernetes class ${JSON.stringify(seen)}`);
    for (const s of ['OK', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_ARGUMENT'])
      assert.ok(seen[s], `no ${s} outcome (generators too narrow)`);
  });

  it('no unhandled rejection during the runs; heap stays bounded', () => {
    svc.logs.length = 0;
    const heap = heapMb();
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    const seconds = (performance.now() - figures.started) / 1000;
    console.log(
      `# property: runs=${figures.runs} (+${figures.positiveRuns} positive), by status: ${JSON.stringify(figures.byStatus)}, by token kind: ${JSON.stringify(figures.byKind)}, OK by token kind: ${JSON.stringify(figures.okByKind)}, ` +
        `OK minted tokens verified=${figures.okVerified}, canary hits=${canaryHits}, unhandled rejections=${unhandled.length}, ${seconds.toFixed(1)} s`,
    );
    console.log(
      `# property: heapUsed ${figures.heapBaselineMb.toFixed(1)} MB after warm-up → ${heap.toFixed(1)} MB after the runs (${(heap - figures.heapBaselineMb).toFixed(1)} MB), ` +
        `rss ${figures.rssBaselineMb.toFixed(1)} → ${rssMb.toFixed(1)} MB, ${forceGc ? 'after a forced GC' : 'GC not available (loose bound)'}`,
    );
    assert.deepEqual(unhandled, []);
    assert.ok(heap - figures.heapBaselineMb < 100, `heap grew by ${(heap - figures.heapBaselineMb).toFixed(1)} MB`);
  });

  it('regression: an account id with $-sequences is minted verbatim into sub (replaceAll expanded $$, $& …)', async () => {
    for (const sub of ['$$', 'a$&b', 'x$`y', "x$'y"]) {
      const now = Math.floor(Date.now() / 1000);
      const payload = JSON.stringify({ iss: op.issuer, sub, client_id: AUDIENCE, exp: now + 600, iat: now });
      const token = await new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: 'ES256', kid: providerKid, typ: 'at+jwt' })
        .sign(providerKey);
      const res = await svc.getJwt({ provider: 'op-jwt', type: 'oidc', providerAccountId: sub, accessToken: token });
      assert.equal(res.code, status.OK, res.details);
      assert.equal((await svc.verify(res.token!)).payload.sub, `op-jwt:${sub}`);
    }
  });
});

/**
 * Issue 21: callers, actors and may_act through the RFC 8693 endpoint. Random combinations of a client
 * credential (none, a valid private_key_jwt assertion, a forged client_id, a bad signature, a replay, a
 * client_id naming another client), a subject token's `may_act` and `act` (well-formed, malformed,
 * chains up to and over the depth bound) and an actor token (none, two services, an invalid token, one
 * with its own chain). The oracle, written from docs/token-endpoint.md (the order of the checks, the
 * may_act matching rule, the nesting), gives the exact HTTP status and catalogue code — or, for a
 * success, the exact minted `act` and the `caller` / `actor` the policy saw (computed claims).
 */
describe('token endpoint properties: callers, actors and may_act (issue 21)', () => {
  const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
  const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
  const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
  const MAX_DEPTH = 8;
  let fake: FakeOidcIssuer;
  let svc: RunningAuthJwt;
  let clientKey: CryptoKey;
  let attackerKey: CryptoKey;
  let issuer: string;
  const seen = { ok: 0, refusedByClientAuth: 0, refusedByDelegation: 0, withAct: 0 };

  before(async () => {
    fake = await startFakeOidcIssuer();
    const pair = await generateKeyPair('ES256', { extractable: true });
    clientKey = pair.privateKey;
    attackerKey = (await generateKeyPair('ES256')).privateKey;
    svc = await startAuthJwt({
      tokenEndpoint: {
        enabled: true,
        clientAuthentication: {
          methods: ['none', 'private_key_jwt'],
          clients: [
            { id: 'orders', privateKeyJwt: { jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'o1', alg: 'ES256' }] } } },
            { id: 'billing', privateKeyJwt: { jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'o1', alg: 'ES256' }] } } },
          ],
          replayCache: { store: 'memory' },
        },
      },
      providers: [
        {
          id: 'kc',
          type: 'oidc',
          issuer: fake.issuer,
          strategy: 'jwt',
          audiences: ['frontend', 'orders-app', 'billing-app'],
          claims: { requester: 'caller.id', acting: 'actor.sub' },
        },
      ],
    });
    issuer = svc.config.issuer;
  });
  after(async () => {
    await svc?.stop();
    await fake?.close();
  });

  type Act = { sub?: unknown; iss?: unknown; client_id?: unknown; act?: Act; [k: string]: unknown };
  const chain = (depth: number): Act => {
    let act: Act = { sub: `hop-${depth}` };
    for (let i = depth - 1; i >= 1; i--) act = { sub: `hop-${i}`, extra: 'dropped', act };
    return act;
  };
  /** Mostly well-formed requests (so that successes are common), with every hostile variant in the mix. */
  const weighted = <T>(common: readonly T[], rare: readonly T[]) =>
    fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...common) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });
  const callerArb = weighted(['none', 'valid'], ['forged-client-id', 'public-client-id', 'bad-signature', 'replayed', 'mismatch']);
  const mayActArb = weighted<unknown>(
    [undefined, undefined, { sub: 'svc-orders' }, { client_id: 'orders-app' }, { sub: 'kc:svc-orders', iss: 'AUTHJWT' }],
    [
      { sub: 'svc-billing' },
      { client_id: 'billing-app' },
      { sub: 'svc-orders', iss: 'https://other.example' },
      { sub: 'svc-orders', iss: 'FAKE' },
      { iss: 'FAKE' },
      'svc-orders',
      { sub: 7 },
      [{ sub: 'svc-orders' }],
    ],
  );
  const actArb = weighted<unknown>(
    [
      undefined,
      undefined,
      { sub: 'svc-gw' },
      { sub: 'svc-gw', client_id: 'gw', aud: 'dropped', act: { sub: 'svc-x', iss: 'https://other.example' } },
    ],
    [chain(MAX_DEPTH - 1), chain(MAX_DEPTH), chain(MAX_DEPTH + 1), 'svc-gw', { iss: 'x' }, { sub: '' }],
  );
  const actorArb = weighted(['none', 'orders', 'orders', 'billing'], ['invalid', 'orders-with-act']);

  /** Oracle helpers, from docs/token-endpoint.md. */
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const goodString = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 512;
  /** An act chain as minted: identity members only, iss of the subject's issuer where missing; undefined when malformed. */
  function expectedAct(v: unknown, defaultIssuer: string, depth = 1): Act | undefined | 'invalid' {
    if (v === undefined) return undefined;
    if (!isObj(v) || depth > MAX_DEPTH) return 'invalid';
    for (const m of ['sub', 'iss', 'client_id']) if (m in v && !goodString(v[m])) return 'invalid';
    if (!goodString(v.sub)) return 'invalid';
    const prior = expectedAct(v.act, defaultIssuer, depth + 1);
    if (prior === 'invalid') return 'invalid';
    return {
      sub: v.sub,
      iss: (v.iss as string | undefined) ?? defaultIssuer,
      ...(v.client_id !== undefined ? { client_id: v.client_id } : {}),
      ...(prior ? { act: prior } : {}),
    };
  }
  const depthOf = (a: Act | undefined): number => (a ? 1 + depthOf(a.act) : 0);

  it('random callers, actors, may_act and act get exactly the oracle’s answer; nothing is minted for a refusal', async () => {
    await fc.assert(
      fc.asyncProperty(callerArb, mayActArb, actArb, actorArb, async (callerSpec, mayActSpec, actSpec, actorSpec) => {
        const now = Math.floor(Date.now() / 1000);
        const resolve = (v: unknown) =>
          JSON.parse(
            JSON.stringify(v ?? null)
              .replaceAll('"FAKE"', JSON.stringify(fake.issuer))
              .replaceAll('"AUTHJWT"', JSON.stringify(issuer)),
          );
        const mayAct = mayActSpec === undefined ? undefined : resolve(mayActSpec);
        const subject = await fake.sign({
          iss: fake.issuer,
          sub: 'alice',
          azp: 'frontend',
          iat: now,
          exp: now + 300,
          ...(mayAct !== undefined ? { may_act: mayAct } : {}),
          ...(actSpec !== undefined ? { act: actSpec } : {}),
        });
        const service = (name: string, extra: Record<string, unknown> = {}) =>
          fake.sign({ iss: fake.issuer, sub: `svc-${name}`, azp: `${name}-app`, iat: now, exp: now + 300, ...extra });
        const actorToken =
          actorSpec === 'none'
            ? undefined
            : actorSpec === 'invalid'
              ? await new SignJWT({ iss: fake.issuer, sub: 'svc-evil', azp: 'orders-app', exp: now + 300 })
                  .setProtectedHeader({ alg: 'ES256', kid: fake.kid })
                  .sign(attackerKey)
              : actorSpec === 'orders-with-act'
                ? await service('orders', { act: { sub: 'svc-y' } })
                : await service(actorSpec);
        const assertion = (key = clientKey) =>
          new SignJWT({ iss: 'orders', sub: 'orders', aud: issuer, jti: crypto.randomUUID(), iat: now, exp: now + 60 })
            .setProtectedHeader({ alg: 'ES256', kid: 'o1' })
            .sign(key);
        const form: Record<string, string> = { grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS };
        if (actorToken) Object.assign(form, { actor_token: actorToken, actor_token_type: ACCESS });
        const post = (f: Record<string, string>) =>
          fetch(`http://127.0.0.1:${svc.app.internalHttpPort}/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(f),
          });
        if (callerSpec === 'valid') Object.assign(form, { client_assertion_type: JWT_BEARER, client_assertion: await assertion() });
        if (callerSpec === 'forged-client-id') form.client_id = 'orders';
        if (callerSpec === 'public-client-id') form.client_id = 'a-public-spa';
        if (callerSpec === 'bad-signature')
          Object.assign(form, { client_assertion_type: JWT_BEARER, client_assertion: await assertion(attackerKey) });
        if (callerSpec === 'mismatch')
          Object.assign(form, { client_assertion_type: JWT_BEARER, client_assertion: await assertion(), client_id: 'billing' });
        if (callerSpec === 'replayed') {
          const used = await assertion();
          await (
            await post({
              grant_type: GRANT,
              subject_token: await fake.sign({ iss: fake.issuer, sub: 'bob', azp: 'frontend', iat: now, exp: now + 300 }),
              subject_token_type: ACCESS,
              client_assertion_type: JWT_BEARER,
              client_assertion: used,
            })
          ).text();
          Object.assign(form, { client_assertion_type: JWT_BEARER, client_assertion: used });
        }

        // ---- the oracle
        let expected: { status: number; code?: string; codePrefix?: string; act?: Act; requester?: string; acting?: string };
        const clientRefusals: Record<string, string> = {
          'forged-client-id': 'ERR_AUTHJWT_CLIENT_AUTH_REQUIRED',
          'bad-signature': 'ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION',
          replayed: 'ERR_AUTHJWT_CLIENT_AUTH_ASSERTION_REPLAYED',
          mismatch: 'ERR_AUTHJWT_CLIENT_AUTH_CLIENT_ID_MISMATCH',
        };
        const clientRefusal = clientRefusals[callerSpec];
        const subjectAct = expectedAct(actSpec, fake.issuer);
        const mayActValid =
          mayAct === undefined ||
          (isObj(mayAct) &&
            ['sub', 'iss', 'client_id'].every((m) => !(m in mayAct) || goodString(mayAct[m])) &&
            (mayAct.sub !== undefined || mayAct.client_id !== undefined));
        const actorName =
          actorSpec === 'orders' || actorSpec === 'orders-with-act' ? 'orders' : actorSpec === 'billing' ? 'billing' : undefined;
        const admits = (m: Record<string, unknown>) => {
          if (!actorName) return false;
          const iss = (m.iss as string | undefined) ?? fake.issuer;
          const names = [
            { sub: `svc-${actorName}`, iss: fake.issuer, clientId: `${actorName}-app` },
            { sub: `kc:svc-${actorName}`, iss: issuer, clientId: `${actorName}-app` },
          ];
          return names.some(
            (n) => n.iss === iss && (m.sub === undefined || m.sub === n.sub) && (m.client_id === undefined || m.client_id === n.clientId),
          );
        };
        const actorPrior: Act | undefined = actorSpec === 'orders-with-act' ? { sub: 'svc-y', iss: fake.issuer } : undefined;
        if (clientRefusal) expected = { status: 401, code: clientRefusal };
        else if (subjectAct === 'invalid' || !mayActValid) expected = { status: 400, code: 'ERR_AUTHJWT_DELEGATION_INVALID_CLAIM' };
        else if (actorSpec === 'invalid') expected = { status: 400, codePrefix: 'ERR_AUTHJWT_UPSTREAM_' };
        else if (mayAct !== undefined && !actorName) expected = { status: 400, code: 'ERR_AUTHJWT_DELEGATION_ACTOR_REQUIRED' };
        else if (mayAct !== undefined && !admits(mayAct as Record<string, unknown>))
          expected = { status: 400, code: 'ERR_AUTHJWT_DELEGATION_ACTOR_NOT_ALLOWED' };
        else if (actorName && subjectAct && actorPrior) expected = { status: 400, code: 'ERR_AUTHJWT_DELEGATION_AMBIGUOUS_CHAIN' };
        else if (actorName && 1 + depthOf(subjectAct ?? actorPrior) > MAX_DEPTH)
          expected = { status: 400, code: 'ERR_AUTHJWT_DELEGATION_INVALID_CLAIM' };
        else {
          const act = actorName
            ? {
                sub: `kc:svc-${actorName}`,
                client_id: `${actorName}-app`,
                ...((subjectAct ?? actorPrior) ? { act: subjectAct ?? actorPrior } : {}),
              }
            : subjectAct;
          expected = {
            status: 200,
            act,
            requester: callerSpec === 'valid' ? 'orders' : '',
            acting: actorName ? `kc:svc-${actorName}` : '',
          };
        }

        const logsFrom = svc.logs.length;
        const res = await post(form);
        const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
        const what = JSON.stringify({ callerSpec, mayActSpec, actSpec, actorSpec, got: body.error_description ?? 'ok' }).slice(0, 600);
        assert.equal(res.status, expected.status, what);
        if (expected.status !== 200) {
          assert.equal(body.access_token, undefined);
          const code = /\((ERR_AUTHJWT_\w+)\)$/.exec(body.error_description ?? '')?.[1] ?? '';
          if (expected.code) assert.equal(code, expected.code, what);
          else assert.ok(code.startsWith(expected.codePrefix!), what);
          assert.equal(body.error, expected.status === 401 ? 'invalid_client' : 'invalid_request', what);
          if (expected.status === 401) seen.refusedByClientAuth++;
          else seen.refusedByDelegation++;
        } else {
          const { payload } = await svc.verify(body.access_token!);
          assert.equal(payload.sub, 'kc:alice', what);
          assert.deepEqual(payload.act, expected.act, what);
          assert.equal(payload.requester, expected.requester, `${what}: the caller the policy saw`);
          assert.equal(payload.acting, expected.acting, `${what}: the actor the policy saw`);
          seen.ok++;
          if (expected.act) seen.withAct++;
        }
        const logs = svc.logs.slice(logsFrom).join('');
        for (const t of [subject, actorToken, form.client_assertion].filter(Boolean))
          assert.ok(!logs.includes(t!.split('.')[2]!), 'a token in the logs');
      }),
      { numRuns: Math.max(200, Math.round(RUNS / 20)) },
    );
    console.log(`# property: token endpoint callers/actors/may_act ${JSON.stringify(seen)}`);
    for (const [k, n] of Object.entries(seen)) assert.ok(n > 0, `the run produced no ${k} (generators too narrow)`);
  });
});
