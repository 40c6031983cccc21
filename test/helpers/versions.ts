/**
 * The shared versions of `.ci/versions.env` (Keycloak, Node.js major, npm), read the way the shell
 * scripts read them (`. .ci/versions.env`): the one place they are written.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VERSIONS_FILE = fileURLToPath(new URL('../../.ci/versions.env', import.meta.url));

/**
 * Parses KEY=VALUE lines (blank lines and `#` comments skipped; a value may be wrapped in matching
 * single or double quotes). Anything sh would read differently — spaces, `$` expansion, backquotes,
 * `export`, a repeated key — is an error, so the scripts and the tests can never see different versions.
 */
export function parseVersions(text: string, source = VERSIONS_FILE): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z][A-Z0-9_]*)=(?:"([^"$`\\\s]*)"|'([^'\s]*)'|([^"'$`\\\s#]*))$/.exec(line);
    if (!m) throw new Error(`${source}:${i + 1}: expected KEY=VALUE (no spaces, no expansion), got: ${line}`);
    const key = m[1]!;
    if (key in out) throw new Error(`${source}:${i + 1}: ${key} is set twice`);
    out[key] = m[2] ?? m[3] ?? m[4]!;
  }
  return out;
}

const versions = parseVersions(readFileSync(VERSIONS_FILE, 'utf8'));

/** The value of `key` in .ci/versions.env; throws when it is missing or empty. */
export function version(key: string): string {
  const value = versions[key];
  if (!value) throw new Error(`${key} is not set in ${VERSIONS_FILE}`);
  return value;
}
