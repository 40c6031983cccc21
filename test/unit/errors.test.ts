/** The error catalogue is the one source: its docs are generated from it, and codes are never built ad hoc. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERRORS_DOC, renderErrorsDoc } from '../../scripts/gen-error-docs.ts';
import { ERRORS } from '../../src/errors.ts';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith('.ts') ? [join(dir, n)] : []));

it('docs/errors.md is generated from the catalogue and up to date (node scripts/gen-error-docs.ts)', () => {
  assert.equal(readFileSync(ERRORS_DOC, 'utf8'), renderErrorsDoc());
});

it('every ERR_AUTHJWT_* literal in src/ names a catalogue entry (no codes built outside src/errors.ts)', () => {
  const known = new Set(Object.keys(ERRORS).map((n) => `ERR_AUTHJWT_${n}`));
  const unknown: string[] = [];
  for (const file of files(SRC)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/ERR_AUTHJWT_[A-Z0-9_]*[A-Z0-9]/g))
      if (!known.has(m[0])) unknown.push(`${file.slice(SRC.length)}: ${m[0]}`);
  }
  assert.deepEqual(unknown, []);
});

it('every catalogue message is fixed text (no placeholders) and every entry says when it happens', () => {
  for (const [name, def] of Object.entries(ERRORS)) {
    assert.ok(!/[${}]/.test(def.message), `${name}: message looks templated`);
    assert.ok(def.help.length > 5, `${name}: help is missing`);
  }
});
