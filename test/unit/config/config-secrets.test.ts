/**
 * Issue 15 item 8: configuration errors and warnings name the field and the problem, never a secret
 * value or URL credentials. Through the public loaders (`loadConfigFile`, `buildConfig`); the same
 * through main.ts's stderr is in test/integration/security-regressions.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig, loadConfigFile } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';

const SECRET = 's3cr3t-value-7Hq2Zx';

const header = `issuer: http://127.0.0.1:8080
audience: [internal-services]
keys: { ephemeral: true }
providers:
  - id: kc
    issuer: https://kc.example/realms/x
    audiences: [frontend]
    clientId: authjwt
`;

/** Everything a ConfigError can show: message, issues, stack, inspection. */
function shown(error: unknown): string {
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  return [error.message, JSON.stringify(error.issues), error.stack ?? '', String(error)].join('\n');
}

function loadError(yaml: string): ConfigError {
  try {
    loadConfigFile('authjwt.yaml', { readFile: () => yaml, env: {} });
  } catch (error) {
    return error as ConfigError;
  }
  assert.fail('the config loaded; expected a ConfigError');
}

describe('config errors never print secrets (issue 15 item 8)', () => {
  it('regression #15.8: a YAML syntax error on a line holding clientSecret does not print the secret (still says where)', () => {
    const broken = {
      'nested mapping': `${header}    clientSecret: ${SECRET}: oops\n`,
      'unterminated quote': `${header}    clientSecret: "${SECRET}\n`,
      'unclosed flow sequence': `${header}    clientSecret: [${SECRET}\n`,
      'tab indentation': `${header}    clientSecret: ${SECRET}\n\t  timeout: 5s\n`,
    };
    const leaks: string[] = [];
    for (const [name, yaml] of Object.entries(broken)) {
      const text = shown(loadError(yaml));
      if (text.includes(SECRET)) leaks.push(name);
      assert.match(text, /line \d+/i, `${name}: the error should still name the line`);
    }
    assert.deepEqual(leaks, [], 'YAML errors whose message contains the client secret');
  });

  it('regression #15.8: a duration field holding a secret-looking value is reported by path without echoing the value', () => {
    const fields: Record<string, string> = {
      'providers[0].timeout': `${header}    clientSecretEnv: KC_SECRET\n    timeout: ${SECRET}\n`,
      'providers[0].cacheTtl': `${header}    clientSecretEnv: KC_SECRET\n    cacheTtl: "${SECRET}"\n`,
      'providers[0].jwksCooldown': `${header}    clientSecretEnv: KC_SECRET\n    jwksCooldown: ${SECRET}\n`,
      'providers[0].circuitBreaker.openFor': `${header}    clientSecretEnv: KC_SECRET\n    circuitBreaker: { openFor: ${SECRET} }\n`,
      tokenTtl: `tokenTtl: ${SECRET}\n${header}`,
    };
    const leaks: string[] = [];
    for (const [path, yaml] of Object.entries(fields)) {
      let error: unknown;
      try {
        loadConfigFile('authjwt.yaml', { readFile: () => yaml, env: { KC_SECRET: 'x' } });
      } catch (e) {
        error = e;
      }
      const text = shown(error);
      assert.ok(text.includes(path), `${path}: the error names the field: ${(error as Error).message}`);
      if (text.includes(SECRET)) leaks.push(path);
    }
    assert.deepEqual(leaks, [], 'duration errors that echo the value');
  });

  it('regression #15.8: warnings and URL errors never print URL credentials (user:password@ in an issuer)', () => {
    const base = { audience: 'internal-services', keys: { ephemeral: true } };
    // URL credentials have no place in an issuer: refused (naming the field), never printed.
    const outcome = (raw: Record<string, unknown>) => {
      try {
        return buildConfig(raw, { env: {} }).warnings.join('\n');
      } catch (e) {
        return shown(e);
      }
    };
    const texts = {
      'provider issuer without audiences': outcome({
        ...base,
        issuer: 'http://127.0.0.1:8080',
        providers: [{ id: 'kc', issuer: 'https://user:password@idp.example/realms/x' }],
      }),
      'our own plain-http issuer': outcome({
        ...base,
        issuer: 'http://user:password@authjwt.example',
        providers: [{ id: 'kc', issuer: 'https://idp.example/realms/x', audiences: ['frontend'] }],
      }),
      'plain-http provider issuer': outcome({
        ...base,
        issuer: 'http://127.0.0.1:8080',
        providers: [{ id: 'kc', issuer: 'http://user:password@idp.example/realms/x', audiences: ['frontend'] }],
      }),
    };
    assert.match(texts['provider issuer without audiences'], /providers\[0\]\.issuer: must not contain a user name or password/);
    assert.match(texts['our own plain-http issuer'], /issuer: must not contain a user name or password/);
    assert.match(texts['plain-http provider issuer'], /providers\[0\]\.issuer/);
    const leaks = Object.entries(texts)
      .filter(([, text]) => text.includes('password@') || text.includes('user:'))
      .map(([name]) => name);
    assert.deepEqual(leaks, [], 'messages that contain URL credentials');
    // Without credentials, the warning still names the issuer.
    assert.match(
      outcome({ ...base, issuer: 'http://127.0.0.1:8080', providers: [{ id: 'kc', issuer: 'https://idp.example/realms/x' }] }),
      /no audiences configured .*idp\.example/,
    );
  });
});
