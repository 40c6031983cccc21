import assert from 'node:assert/strict';
import { buildConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

/**
 * The message of the configuration issue reported at `path` when `raw` is refused; fails the test
 * when the configuration is accepted or refused only elsewhere (a refusal for the wrong reason).
 */
export function configIssueAt(raw: Record<string, unknown>, path: string, options: Parameters<typeof buildConfig>[1] = {}): string {
  try {
    buildConfig(raw, options);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    const found = e.issues.find((i) => i.path === path);
    assert.ok(found, `no issue at ${path}: ${JSON.stringify(e.issues)}`);
    return found.message;
  }
  assert.fail(`accepted; expected an issue at ${path}`);
}
