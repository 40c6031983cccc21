/**
 * Config loading: the issue's example is accepted with presets and defaults filled, frozen, with the
 * client secret hidden; every invalid config fails with a ConfigError naming the field path.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import util, { inspect } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { buildConfig, loadConfigFile, type Config, type LoadOptions } from '../../../src/config/load.ts';
import { parseDuration } from '../../../src/config/duration.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { Secret } from '../../../src/config/secret.ts';
import { OIDC_DEFAULT_CLAIMS, PRESETS } from '../../../src/config/presets.ts';
import { ConfigError } from '../../../src/errors.ts';

const SECRET = 'kc-s3cret-value-3f9a';

let dir: string;
let secretFile: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'authjwt-config-'));
  secretFile = join(dir, 'keycloak-secret');
  writeFileSync(secretFile, `${SECRET}\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The example config from the issue; the secret file path points at a temp file. */
const exampleYaml = (secretPath: string) => `
issuer: https://authjwt.example
audience: [internal-services]
tokenTtl: 15m
subjectTemplate: "{provider}:{accountId}"
grpc: { listen: "0.0.0.0:50051" }
http: { listen: "0.0.0.0:8080" }
keys: { dir: /var/run/secrets/authjwt/keys }
providers:
  - id: keycloak
    type: oidc
    issuer: https://sso.example/realms/main
    audiences: [frontend]
    strategy: auto
    clientId: authjwt
    clientSecretFile: ${secretPath}
  - id: github
    type: oauth
    preset: github
  - id: forge
    type: oauth
    userApiUrl: https://forge.example/api/user
    accountIdClaim: id
`;

function writeTemp(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A minimal valid config; each case changes one thing. */
const base = (): Record<string, unknown> => ({
  issuer: 'https://authjwt.example',
  audience: ['internal-services'],
  keys: { dir: '/var/run/secrets/authjwt/keys' },
  providers: [{ id: 'forge', type: 'oauth', userApiUrl: 'https://forge.example/api/user', accountIdClaim: 'id' }],
});
const oidc = (extra: Record<string, unknown> = {}) => ({
  id: 'keycloak',
  type: 'oidc',
  issuer: 'https://sso.example/realms/main',
  audiences: ['frontend'],
  ...extra,
});
const withProviders = (...providers: unknown[]) => ({ ...base(), providers });

/** Asserts a ConfigError with an issue at exactly `path` whose message matches `problem`, also shown in the error text. */
function assertConfigError(fn: () => unknown, path: string, problem: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_AUTHJWT_CONFIG_INVALID');
    const issue = e.issues.find((i) => i.path === path);
    assert.ok(issue, `no issue at path "${path}"; issues: ${JSON.stringify(e.issues)}`);
    assert.match(issue.message, problem);
    assert.ok(e.message.includes(`  - ${path || '(root)'}: ${issue.message}`), e.message);
    return true;
  });
}

describe('buildConfig rejects invalid configs, naming the field and the problem', () => {
  it('accepts the base config used by the cases below', () => {
    assert.doesNotThrow(() => buildConfig(base()));
  });

  const cases: { name: string; raw: () => unknown; options?: LoadOptions; path: string; problem: RegExp }[] = [
    { name: 'missing issuer', raw: () => ({ ...base(), issuer: undefined }), path: 'issuer', problem: /^is required$/ },
    { name: 'issuer not a URL', raw: () => ({ ...base(), issuer: 'authjwt.example' }), path: 'issuer', problem: /must be an absolute URL/ },
    {
      name: 'issuer with a query',
      raw: () => ({ ...base(), issuer: 'https://authjwt.example/?a=1' }),
      path: 'issuer',
      problem: /must not have a query or fragment/,
    },
    {
      name: 'empty audience list',
      raw: () => ({ ...base(), audience: [] }),
      path: 'audience',
      problem: /expected array to have >=1 items/,
    },
    { name: 'tokenTtl "15 minutes"', raw: () => ({ ...base(), tokenTtl: '15 minutes' }), path: 'tokenTtl', problem: /^is not a duration/ },
    {
      name: 'tokenTtl below the minimum',
      raw: () => ({ ...base(), tokenTtl: '1s' }),
      path: 'tokenTtl',
      problem: /must be at least 10000ms/,
    },
    {
      name: 'tokenTtl above the maximum',
      raw: () => ({ ...base(), tokenTtl: '25h' }),
      path: 'tokenTtl',
      problem: /must be at most 86400000ms/,
    },
    {
      name: 'unknown top-level field (typo tokenTTL)',
      raw: () => ({ ...base(), tokenTTL: '15m' }),
      path: '',
      problem: /unknown field\(s\): tokenTTL/,
    },
    {
      name: 'unknown nested field',
      raw: () => ({ ...base(), grpc: { listn: '0.0.0.0:50051' } }),
      path: 'grpc',
      problem: /unknown field\(s\): listn/,
    },
    {
      name: 'unknown provider field',
      raw: () => withProviders(oidc({ clientSecretFiel: '/x' })),
      path: 'providers[0]',
      problem: /unknown field\(s\): clientSecretFiel/,
    },
    { name: 'providers empty', raw: () => withProviders(), path: 'providers', problem: /at least one provider is required/ },
    { name: 'providers missing', raw: () => ({ ...base(), providers: undefined }), path: 'providers', problem: /^is required$/ },
    {
      name: 'duplicate provider ids',
      raw: () => withProviders(oidc({ id: 'sso' }), { id: 'sso', type: 'oauth', preset: 'gitlab' }),
      path: 'providers[1].id',
      problem: /duplicate provider id "sso"/,
    },
    {
      name: 'invalid provider id',
      raw: () => withProviders(oidc({ id: 'has space' })),
      path: 'providers[0].id',
      problem: /must be 1-63 characters/,
    },
    {
      name: 'http issuer on a non-loopback host without allowHttp',
      raw: () => withProviders(oidc({ issuer: 'http://sso.example/realms/main' })),
      path: 'providers[0].issuer',
      problem: /must be https/,
    },
    {
      name: 'http userinfoUrl on a non-loopback host without allowHttp',
      raw: () => withProviders({ id: 'forge', type: 'oauth', userinfoUrl: 'http://forge.example/api/user', accountIdField: 'id' }),
      path: 'providers[0].userinfoUrl',
      problem: /must be https/,
    },
    {
      name: 'introspection without clientId and secret',
      raw: () => withProviders(oidc({ verification: 'introspection' })),
      path: 'providers[0].verification',
      problem: /introspection needs clientId and a client secret/,
    },
    {
      name: 'introspection with clientId but no secret',
      raw: () => withProviders(oidc({ verification: 'introspection', clientId: 'authjwt' })),
      path: 'providers[0].verification',
      problem: /introspection needs clientId and a client secret/,
    },
    {
      name: 'client secret without clientId',
      raw: () => withProviders(oidc({ clientSecret: 'x' })),
      path: 'providers[0].clientId',
      problem: /is required when a client secret is set/,
    },
    {
      name: 'clientSecretFile that does not exist',
      raw: () => withProviders(oidc({ clientId: 'authjwt', clientSecretFile: join(tmpdir(), 'authjwt-no-such-secret-file') })),
      path: 'providers[0].clientSecretFile',
      problem: /cannot read: ENOENT/,
    },
    {
      name: 'clientSecretEnv naming an unset variable',
      raw: () => withProviders(oidc({ clientId: 'authjwt', clientSecretEnv: 'KEYCLOAK_SECRET' })),
      options: { env: { OTHER: 'x' } },
      path: 'providers[0].clientSecretEnv',
      problem: /environment variable KEYCLOAK_SECRET is not set or empty/,
    },
    {
      name: 'clientSecretEnv naming an empty variable',
      raw: () => withProviders(oidc({ clientId: 'authjwt', clientSecretEnv: 'KEYCLOAK_SECRET' })),
      options: { env: { KEYCLOAK_SECRET: '' } },
      path: 'providers[0].clientSecretEnv',
      problem: /is not set or empty/,
    },
    {
      name: 'two secret sources at once',
      raw: () => withProviders(oidc({ clientId: 'authjwt', clientSecret: 'x', clientSecretEnv: 'KEYCLOAK_SECRET' })),
      options: { env: { KEYCLOAK_SECRET: 'y' } },
      path: 'providers[0].clientSecret',
      problem: /set only one of clientSecret, clientSecretFile, clientSecretEnv/,
    },
    {
      name: 'issuer and preset together',
      raw: () => withProviders(oidc({ preset: 'google' })),
      path: 'providers[0].issuer',
      problem: /set either issuer .* or userApiUrl\/preset .*, not both/,
    },
    {
      name: 'issuer and userinfoUrl together',
      raw: () => withProviders(oidc({ userinfoUrl: 'https://sso.example/userinfo' })),
      path: 'providers[0].issuer',
      problem: /not both/,
    },
    {
      name: 'neither issuer, userinfoUrl nor preset',
      raw: () => withProviders({ id: 'nothing', type: 'oauth' }),
      path: 'providers[0].issuer',
      problem: /one of issuer, userApiUrl, preset or kubernetes is required/,
    },
    {
      name: 'unknown preset',
      raw: () => withProviders({ id: 'bb', preset: 'bitbucket' }),
      path: 'providers[0].preset',
      problem: /github.*gitlab.*google.*microsoft/,
    },
    {
      name: 'oauth provider with userinfoUrl but no accountIdField',
      raw: () => withProviders({ id: 'forge', type: 'oauth', userinfoUrl: 'https://forge.example/api/user' }),
      path: 'providers[0].accountIdClaim',
      problem: /is required with userinfoUrl/,
    },
    {
      name: 'verification on a user-API provider',
      raw: () => withProviders({ id: 'gh', preset: 'github', verification: 'jwt' }),
      path: 'providers[0].verification',
      problem: /only applies to providers with an issuer/,
    },
    {
      name: 'apiBaseUrl outside the github and gitlab presets',
      raw: () => withProviders({ id: 'g', preset: 'google', apiBaseUrl: 'https://google.example' }),
      path: 'providers[0].apiBaseUrl',
      problem: /only applies to the github and gitlab presets/,
    },
    {
      name: 'subjectTemplate without {accountId}',
      raw: () => ({ ...base(), subjectTemplate: '{provider}' }),
      path: 'subjectTemplate',
      problem: /must contain \{accountId\}/,
    },
    {
      name: 'claim mapped to sub',
      raw: () => withProviders(oidc({ claims: { sub: 'email' } })),
      path: 'providers[0].claims.sub',
      problem: /is reserved and cannot be mapped/,
    },
    {
      name: 'claim mapped to iss',
      raw: () => withProviders(oidc({ claims: { iss: 'email' } })),
      path: 'providers[0].claims.iss',
      problem: /is reserved and cannot be mapped/,
    },
    {
      name: 'claim mapped to constructor',
      raw: () => withProviders(oidc({ claims: { constructor: 'email' } })),
      path: 'providers[0].claims.constructor',
      problem: /is reserved/,
    },
    {
      // Regression: zod strips a `__proto__` record key silently, so the mapping used to vanish unreported.
      name: 'claim mapped to __proto__ (own key, as JSON/YAML produce it)',
      raw: () => withProviders(oidc({ claims: JSON.parse('{"__proto__": "email", "mail": "email"}') })),
      path: 'providers[0].claims.__proto__',
      problem: /is reserved and cannot be mapped/,
    },
    {
      name: 'claim name that is not a name',
      raw: () => withProviders(oidc({ claims: { 'a b': 'email' } })),
      path: 'providers[0].claims.a b',
      problem: /must be a claim name/,
    },
    {
      name: 'keys with neither dir nor ephemeral',
      raw: () => ({ ...base(), keys: {} }),
      path: 'keys.dir',
      problem: /set keys.dir \(or keys.ephemeral: true/,
    },
    {
      name: 'keys with both dir and ephemeral',
      raw: () => ({ ...base(), keys: { dir: '/keys', ephemeral: true } }),
      path: 'keys.ephemeral',
      problem: /either keys.dir or keys.ephemeral, not both/,
    },
    {
      name: 'keys.jwksMaxAge greater than publishLeadTime',
      raw: () => ({ ...base(), keys: { dir: '/keys', publishLeadTime: '1m', jwksMaxAge: '2m' } }),
      path: 'keys.jwksMaxAge',
      problem: /must not exceed keys.publishLeadTime/,
    },
    {
      name: 'keys.reloadInterval below the minimum',
      raw: () => ({ ...base(), keys: { dir: '/keys', reloadInterval: '10ms' } }),
      path: 'keys.reloadInterval',
      problem: /must be at least 100ms/,
    },
    {
      name: 'grpc.listen without host',
      raw: () => ({ ...base(), grpc: { listen: '50051' } }),
      path: 'grpc.listen',
      problem: /must be host:port/,
    },
    {
      name: 'http.listen without port',
      raw: () => ({ ...base(), http: { listen: '0.0.0.0' } }),
      path: 'http.listen',
      problem: /must be host:port/,
    },
    {
      name: 'unknown logging level',
      raw: () => ({ ...base(), logging: { level: 'verbose' } }),
      path: 'logging.level',
      problem: /expected one of .*"info"/,
    },
    { name: 'not an object at all', raw: () => 'issuer: x', path: '', problem: /expected object, received string/ },
  ];
  for (const c of cases) {
    it(`rejects: ${c.name}`, () => assertConfigError(() => buildConfig(c.raw(), c.options), c.path, c.problem));
  }
});

describe('deprecated names (accepted until 1.0, with a warning naming the new one)', () => {
  const cases: [string, Record<string, unknown>, (c: Config) => void][] = [
    ['verification → strategy', oidc({ verification: 'jwt' }), (c) => assert.equal(c.providers[0]!.strategy, 'jwt')],
    [
      'userinfoUrl → userApiUrl, accountIdField → accountIdClaim',
      { id: 'forge', type: 'oauth', userinfoUrl: 'https://forge.example/u', accountIdField: 'user.id' },
      (c) => {
        assert.equal(c.providers[0]!.userApi?.url, 'https://forge.example/u');
        assert.equal(c.providers[0]!.accountIdClaim, 'user.id');
      },
    ],
  ];
  for (const [name, provider, check] of cases) {
    it(name, () => {
      const c = buildConfig(withProviders(provider));
      check(c);
      const deprecated = Object.keys(provider).filter((k) => ['verification', 'userinfoUrl', 'accountIdField'].includes(k));
      for (const field of deprecated)
        assert.ok(
          c.warnings.some((w) => w.startsWith(`providers[0].${field} is deprecated: write `)),
          `warning for ${field}: ${c.warnings.join(' | ')}`,
        );
    });
  }
  it('the old and the new name together are an error', () => {
    assertConfigError(
      () => buildConfig(withProviders(oidc({ verification: 'jwt', strategy: 'jwt' }))),
      'providers[0].verification',
      /set strategy only/,
    );
  });
});

describe('options that would be silently ignored are errors; Auth.js account types', () => {
  it('audiences on a user-API provider (the user API cannot bind a token to a client)', () => {
    assertConfigError(
      () => buildConfig(withProviders({ id: 'gh', preset: 'github', audiences: ['frontend'] })),
      'providers[0].audiences',
      /does not apply to user-API providers/,
    );
  });
  it('algorithms or jwksCooldown without an issuer; headers with an issuer', () => {
    assertConfigError(
      () => buildConfig(withProviders({ id: 'gh', preset: 'github', algorithms: ['RS256'] })),
      'providers[0].algorithms',
      /only applies to providers with an issuer/,
    );
    assertConfigError(
      () => buildConfig(withProviders({ id: 'gh', preset: 'github', jwksCooldown: '1s' })),
      'providers[0].jwksCooldown',
      /only applies to providers with an issuer/,
    );
    assertConfigError(
      () => buildConfig(withProviders(oidc({ headers: { 'x-a': 'b' } }))),
      'providers[0].headers',
      /only applies to user-API providers/,
    );
  });
  it('type oauth with an issuer is accepted (next-auth v4 reports oauth for OIDC providers); both types accepted by default', () => {
    const c = buildConfig(withProviders(oidc({ type: 'oauth' })));
    assert.deepEqual(c.providers[0]!.accountTypes, ['oauth']);
    assert.deepEqual(buildConfig(withProviders(oidc())).providers[0]!.accountTypes, ['oidc', 'oauth']);
    assert.deepEqual(buildConfig(withProviders(oidc({ accountTypes: ['oidc'] }))).providers[0]!.accountTypes, ['oidc']);
  });
});

describe('config errors and warnings never show secrets or URL credentials', () => {
  it('a duration field holding a secret is not echoed', () => {
    assert.throws(
      () => buildConfig({ ...base(), tokenTtl: 'hunter2-s3cr3t' }),
      (e: Error) => !e.message.includes('hunter2') && /tokenTtl: is not a duration/.test(e.message),
    );
  });
  it('credentials in an issuer URL are refused without being printed', () => {
    for (const raw of [
      { ...base(), issuer: 'https://user:pa55word@authjwt.example' },
      withProviders(oidc({ issuer: 'https://user:pa55word@sso.example/realms/x' })),
    ]) {
      assert.throws(
        () => buildConfig(raw),
        (e: Error) => !e.message.includes('pa55word') && /must not contain a user name or password/.test(e.message),
      );
    }
  });
  it('a YAML syntax error on a line holding a secret shows the position, not the line', () => {
    const file = writeTemp('leaky.yaml', 'issuer: https://authjwt.example\nproviders:\n  - id: kc\n    clientSecret: s3cr3t-value: oops\n');
    assert.throws(
      () => loadConfigFile(file),
      (e: Error) => !e.message.includes('s3cr3t') && /not valid YAML at line \d+, column \d+/.test(e.message),
    );
  });
  it('an issuer with a trailing slash is accepted with a warning (verifiers compare iss byte for byte)', () => {
    assert.ok(buildConfig({ ...base(), issuer: 'https://authjwt.example/' }).warnings.some((w) => /issuer ends with "\/"/.test(w)));
    assert.ok(!buildConfig(base()).warnings.some((w) => /ends with/.test(w)));
  });
});

describe('loadConfigFile', () => {
  it('rejects invalid YAML, naming the file', () => {
    const file = writeTemp('broken.yaml', 'issuer: https://authjwt.example\nproviders: [ { id: a\n');
    assertConfigError(() => loadConfigFile(file), '', /^not valid YAML/);
    assert.throws(
      () => loadConfigFile(file),
      (e: Error) => e.message.startsWith(`invalid configuration in ${file}:`),
    );
  });

  it('rejects a file that cannot be read', () => {
    assertConfigError(() => loadConfigFile(join(dir, 'missing.yaml')), '', /^cannot read config file/);
  });

  it('rejects an empty file as a config missing its required fields', () => {
    assertConfigError(() => loadConfigFile(writeTemp('empty.yaml', '')), 'issuer', /^is required$/);
  });

  it('names the file in field errors', () => {
    const file = writeTemp('typo.yaml', exampleYaml(secretFile).replace('tokenTtl: 15m', 'tokenTTL: 15m'));
    assert.throws(
      () => loadConfigFile(file),
      (e: Error) => e instanceof ConfigError && e.message.includes(`in ${file}`) && e.message.includes('tokenTTL'),
    );
  });
});

describe("the issue's example config", () => {
  let config: Config;
  before(() => {
    config = loadConfigFile(writeTemp('example.yaml', exampleYaml(secretFile)), { env: {} });
  });

  it('is accepted with top-level values and defaults in milliseconds', () => {
    assert.equal(config.issuer, 'https://authjwt.example');
    assert.deepEqual(config.audience, ['internal-services']);
    assert.equal(config.tokenTtl, 900_000);
    assert.equal(config.subjectTemplate, '{provider}:{accountId}');
    assert.equal(config.clockTolerance, 30_000);
    assert.equal(config.grpc.listen, '0.0.0.0:50051');
    assert.equal(config.http.listen, '0.0.0.0:8080');
    assert.deepEqual(config.keys, {
      dir: '/var/run/secrets/authjwt/keys',
      ephemeral: false,
      ephemeralAlgorithm: 'ES256',
      publishLeadTime: 600_000,
      reloadInterval: 5_000,
      jwksMaxAge: 300_000,
    });
    assert.equal(config.shutdownGrace, 20_000);
  });

  it('resolves the OIDC provider with its secret from the file (trailing newline trimmed)', () => {
    const kc = config.providers[0]!;
    assert.equal(kc.id, 'keycloak');
    assert.equal(kc.type, 'oidc');
    assert.deepEqual(kc.audiences, ['frontend']);
    assert.equal(kc.clientId, 'authjwt');
    assert.ok(kc.clientSecret instanceof Secret);
    assert.equal(kc.clientSecret?.reveal(), SECRET);
    assert.equal(kc.strategy, 'auto');
    assert.equal(kc.accountIdClaim, 'sub');
    assert.deepEqual(kc.accountTypes, ['oidc', 'oauth']);
    assert.deepEqual(kc.oidc, { issuer: 'https://sso.example/realms/main', algorithms: undefined, jwksCooldown: 5_000 });
    assert.equal(kc.userApi, undefined);
    assert.deepEqual(kc.claims, OIDC_DEFAULT_CLAIMS);
    assert.equal(kc.timeout, 5_000);
    assert.equal(kc.cacheTtl, 0);
  });

  it('fills the github preset', () => {
    const gh = config.providers[1]!;
    assert.equal(gh.type, 'oauth');
    assert.equal(gh.clientSecret, undefined);
    assert.equal(gh.strategy, 'user-api');
    assert.equal(gh.accountIdClaim, 'id');
    assert.deepEqual(gh.accountTypes, ['oauth']);
    assert.equal(gh.userApi?.url, 'https://api.github.com/user');
    assert.equal(gh.userApi?.apiBaseUrl, 'https://api.github.com');
    assert.equal(gh.userApi?.preset, 'github');
    assert.equal(gh.userApi?.headers['user-agent'], 'authjwt');
    assert.deepEqual(gh.claims, PRESETS.github!.claims);
  });

  it('keeps the custom user-API provider as written, without profile claims', () => {
    const forge = config.providers[2]!;
    assert.equal(forge.strategy, 'user-api');
    assert.equal(forge.accountIdClaim, 'id');
    assert.deepEqual(forge.userApi, { url: 'https://forge.example/api/user', headers: {}, preset: undefined, apiBaseUrl: undefined });
    assert.deepEqual(forge.claims, {});
  });

  it('warns that gRPC is plaintext and that the github provider is not bound to an OAuth app', () => {
    assert.equal(config.warnings.length, 2, config.warnings.join('\n'));
    assert.match(config.warnings[0]!, /gRPC on 0\.0\.0\.0:50051 is plaintext/);
    assert.match(config.warnings[1]!, /provider github: github preset without clientId\/client secret/);
  });

  it('grpc.plaintext: true acknowledges plaintext gRPC (no warning); tls and plaintext together are refused', () => {
    const ok = buildConfig({ ...base(), grpc: { listen: '0.0.0.0:50051', plaintext: true } });
    assert.ok(!ok.warnings.some((w) => /plaintext/.test(w)));
    assertConfigError(
      () => buildConfig({ ...base(), grpc: { plaintext: true, tls: { certFile: '/c', keyFile: '/k' } } }),
      'grpc.plaintext',
      /either grpc.tls or grpc.plaintext/,
    );
  });

  it('is deep-frozen', () => {
    const unfrozen: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (!v || typeof v !== 'object' || v instanceof Secret) return;
      if (!Object.isFrozen(v)) unfrozen.push(path);
      for (const [k, child] of Object.entries(v)) walk(child, `${path}.${k}`);
    };
    walk(config, 'config');
    assert.deepEqual(unfrozen, []);
    assert.throws(() => {
      (config.providers[1]!.userApi as { url: string }).url = 'https://evil.example/user';
    }, TypeError);
    assert.throws(() => {
      (config.audience as string[]).push('more');
    }, TypeError);
  });

  it('never shows the client secret in JSON.stringify or util.inspect', () => {
    const json = JSON.stringify(config);
    assert.ok(!json.includes(SECRET));
    assert.ok(json.includes('"clientSecret":"[redacted]"'));
    const dump = inspect(config, { depth: Number.POSITIVE_INFINITY, showHidden: true, getters: true });
    assert.ok(!dump.includes(SECRET));
    assert.ok(dump.includes('Secret([redacted])'));
    assert.equal(String(config.providers[0]!.clientSecret), '[redacted]');
    assert.ok(!`${config.providers[0]!.clientSecret}`.includes(SECRET));
  });
});

describe('defaults and normalisation', () => {
  it('fills tokenTtl 15m and subjectTemplate "{provider}:{accountId}" when omitted', () => {
    const c = buildConfig(base());
    assert.equal(c.tokenTtl, 900_000);
    assert.equal(c.subjectTemplate, '{provider}:{accountId}');
  });

  it('fills the defaults inside omitted sections (regression: .default({}) skipped inner defaults)', () => {
    const c = buildConfig(base());
    assert.deepEqual(c.grpc, {
      listen: '0.0.0.0:50051',
      maxReceiveMessageBytes: 16 * 1024,
      maxConcurrentCalls: 512,
      defaultDeadline: 10_000,
      maxConnectionAge: 300_000,
      maxConnectionAgeGrace: 30_000,
      maxConcurrentStreams: 1_000,
      maxWatchStreams: 64,
      maxConnectionIdle: 60_000,
      plaintext: false,
      reflection: true,
    });
    assert.deepEqual(c.http, { listen: '0.0.0.0:8080', cors: { allowOrigins: ['*'] } });
    assert.deepEqual(c.cache, { maxEntries: 10_000, maxTtl: 300_000 });
    assert.deepEqual(c.limits, { maxAccessTokenBytes: 8 * 1024, maxAccountIdBytes: 256 });
    assert.deepEqual(c.logging, { level: 'info' });
  });

  it('turns an audience string into an array', () => {
    assert.deepEqual(buildConfig({ ...base(), audience: 'internal-services' }).audience, ['internal-services']);
  });

  it('accepts a number of seconds for a duration', () => {
    assert.equal(buildConfig({ ...base(), tokenTtl: 600 }).tokenTtl, 600_000);
  });

  const maxAge: { name: string; keys: Record<string, unknown>; jwksMaxAge: number }[] = [
    { name: 'default lead 10m → 5m', keys: {}, jwksMaxAge: 300_000 },
    { name: 'lead 4m → 2m (half the lead time)', keys: { publishLeadTime: '4m' }, jwksMaxAge: 120_000 },
    { name: 'lead 1h → 5m (capped)', keys: { publishLeadTime: '1h' }, jwksMaxAge: 300_000 },
    { name: 'lead 0 → 0', keys: { publishLeadTime: 0 }, jwksMaxAge: 0 },
    { name: 'explicit value kept', keys: { publishLeadTime: '10m', jwksMaxAge: '10m' }, jwksMaxAge: 600_000 },
  ];
  for (const c of maxAge) {
    it(`keys.jwksMaxAge = min(publishLeadTime / 2, 5m): ${c.name}`, () => {
      assert.equal(buildConfig({ ...base(), keys: { dir: '/keys', ...c.keys } }).keys.jwksMaxAge, c.jwksMaxAge);
    });
  }

  it('takes the secret from clientSecretEnv through the env option', () => {
    const c = buildConfig(withProviders(oidc({ clientId: 'authjwt', clientSecretEnv: 'KC_SECRET' })), { env: { KC_SECRET: 'from-env' } });
    assert.equal(c.providers[0]!.clientSecret?.reveal(), 'from-env');
  });

  it('lets a provider override preset claims and adds its own', () => {
    const c = buildConfig(withProviders({ id: 'gh', preset: 'github', claims: { name: 'login', org: 'company' } }));
    assert.deepEqual(c.providers[0]!.claims, { preferred_username: 'login', name: 'login', email: 'email', org: 'company' });
  });
});

describe('URL policy', () => {
  const httpWarning = /plain http/;

  it('accepts an http issuer on a non-loopback host with allowHttp: true, with a warning', () => {
    const c = buildConfig(withProviders(oidc({ issuer: 'http://keycloak.auth.svc:8080/realms/main', allowHttp: true })));
    assert.equal(c.providers[0]!.allowHttp, true);
    const warnings = c.warnings.filter((w) => httpWarning.test(w));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /provider keycloak: issuer uses plain http \(allowHttp: true\)/);
  });

  for (const issuer of ['http://127.0.0.1:8081/realms/main', 'http://localhost:8081/realms/main', 'http://[::1]:8081/']) {
    it(`accepts loopback ${issuer} without allowHttp and without a warning`, () => {
      const c = buildConfig(withProviders(oidc({ issuer })));
      assert.deepEqual(
        c.warnings.filter((w) => !/gRPC on .* is plaintext/.test(w)),
        [],
      );
    });
  }

  it('warns when our own issuer is plain http on a non-loopback host', () => {
    const c = buildConfig({ ...base(), issuer: 'http://authjwt.example' });
    assert.ok(
      c.warnings.some((w) => /issuer http:\/\/authjwt.example is not https/.test(w)),
      c.warnings.join('\n'),
    );
  });

  it('warns about an OIDC provider without audiences', () => {
    const c = buildConfig(withProviders(oidc({ audiences: undefined })));
    assert.ok(
      c.warnings.some((w) => /provider keycloak: no audiences configured/.test(w)),
      c.warnings.join('\n'),
    );
  });
});

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/** Every field of the schema as a path (`grpc.tls.certFile`, `providers.circuitBreaker.window`); maps and unions are leaves. */
function schemaFields(schema: unknown, prefix: string[] = []): string[][] {
  const def = (schema as { _zod: { def: Record<string, any> } })._zod.def;
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
      return schemaFields(def.innerType, prefix);
    case 'pipe': // a transform (durations) reads its input; a preprocess its output
      return schemaFields(def.out._zod.def.type === 'transform' ? def.in : def.out, prefix);
    case 'object':
      return Object.entries(def.shape).flatMap(([key, field]) => schemaFields(field, [...prefix, key]));
    case 'array':
      return prefix.join('.') === 'providers' ? schemaFields(def.element, prefix) : [prefix];
    default:
      return [prefix];
  }
}

/**
 * The field tables of configuration.md: per section (`grpc`, `Top level`, `providers` for every table
 * under "Providers"), the backticked names of each row's first cell and the row's default cell.
 */
function fieldTables(md: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let h2 = '';
  let section = '';
  for (const line of md.split('\n')) {
    const heading = /^(##+) (.*)$/.exec(line);
    if (heading) {
      const title = heading[2]!.replaceAll('`', '');
      if (heading[1] === '##') h2 = title;
      section = h2 === 'Providers' ? 'providers' : heading[1] === '##' ? title : title.split(' ')[0]!;
      continue;
    }
    const cells = line.startsWith('| `') ? line.split(' | ') : [];
    if (cells.length < 2) continue;
    const fields = sections.get(section) ?? new Map<string, string>();
    sections.set(section, fields);
    for (const [, name] of cells[0]!.matchAll(/`([^`]+)`/g)) fields.set(name!, cells[2] ?? '');
  }
  return sections;
}

describe('docs/configuration.md', () => {
  const md = readFileSync(fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url)), 'utf8');
  const fields = schemaFields(configSchema);
  /** The documented default of a schema field (the default cell of its row), or undefined. */
  const documented = (path: string[]): string | undefined => {
    const tables = fieldTables(md);
    const [head, ...rest] = path;
    if (head === 'providers') return tables.get('providers')?.get(rest.join('.'));
    return tables.get('Top level')?.get(path.join('.')) ?? (rest.length ? tables.get(head!)?.get(rest.join('.')) : undefined);
  };

  it('documents every field of the schema in the table of its section (old provider names under Renamed keys)', () => {
    assert.ok(fields.length > 90, `walked ${fields.length} schema fields`);
    const missing = fields.filter((path) => documented(path) === undefined).map((path) => path.join('.'));
    assert.deepEqual(missing, []);
    const renamed = md.slice(md.indexOf('### Renamed keys'));
    for (const [old, current] of [
      ['verification', 'strategy'],
      ['userinfoUrl', 'userApiUrl'],
      ['accountIdField', 'accountIdClaim'],
    ])
      assert.match(renamed, new RegExp(`\\| \`${old}\` \\| \`${current}\``), `${old} → ${current} in Renamed keys`);
  });

  it('every default written as one value is the schema default', () => {
    const c = buildConfig(withProviders(oidc()));
    const valueAt = (path: string[]): unknown => (path[0] === 'providers' ? readAt(c.providers[0], path.slice(1)) : readAt(c, path));
    const readAt = (o: unknown, path: string[]): unknown =>
      path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
    const compared: string[] = [];
    const wrong: string[] = [];
    for (const path of fields) {
      const cell = documented(path)?.trim();
      const single = cell === undefined ? null : /^`([^`]+)`(?: \([^)]*\))?$/.exec(cell);
      if (!single) continue;
      const text = single[1]!;
      const actual = valueAt(path);
      if (actual === undefined) continue; // no schema default (e.g. jwksUri: derived from issuer)
      const expected =
        typeof actual === 'number' && !/^\d+(\.\d+)?$/.test(text)
          ? parseDuration(text) // a duration with its unit; the schema holds milliseconds
          : typeof actual === 'number'
            ? Number(text)
            : typeof actual === 'string'
              ? text.replace(/^"(.*)"$/, '$1')
              : parseJson(text);
      compared.push(path.join('.'));
      if (!util.isDeepStrictEqual(actual, expected)) wrong.push(`${path.join('.')}: documented ${text}, schema ${JSON.stringify(actual)}`);
    }
    assert.deepEqual(wrong, []);
    assert.ok(compared.length >= 50, `compared ${compared.length} defaults: ${compared.join(', ')}`);
  });

  it('its full example is a valid config without warnings', () => {
    const example = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].at(-1)?.[1];
    assert.ok(example?.includes('providers:'), 'the last yaml block is the full example');
    const c = buildConfig(parseYaml(example!), { env: { GITHUB_CLIENT_SECRET: 'x' }, readFile: () => 'keycloak-secret\n' });
    assert.deepEqual(
      c.providers.map((p) => p.id),
      ['keycloak', 'github', 'forge', 'cluster'],
    );
    assert.deepEqual(c.warnings, []);
  });
});
