/**
 * The repository's shell scripts (those .ci/shellcheck.sh checks): no pipeline ends in a reader that may
 * stop reading early — `head`, `grep -q`/`-m`/`-l`, a `sed` or `awk` program that quits. Under
 * `set -o pipefail` the writer then dies of SIGPIPE and the whole pipeline fails, but only when its
 * output outgrows a pipe buffer or comes in several writes: a cold machine's
 * `podman run … java -version 2>&1 | head -n1` failed `.ci/images.sh` with exit 126 that way (issue 19),
 * while warm machines never ran the line. Capture the output and cut it in the shell instead.
 * shellcheck itself runs in .ci/run (.ci/shellcheck.sh), as lint does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A pipe into a reader that may exit before its input ends. */
const EARLY_READER = /\|\s*(?:head\b|grep\s+(?:-\w*\s+)*-\w*[qlm]|sed\s+(?:-\w+\s+)*'[^']*\bq\b|awk\b[^|]*\bexit\b)/;

/** The code lines of a script: comments dropped, backslash continuations joined. */
function codeLines(text: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  let pending: { line: number; code: string } | undefined;
  text.split('\n').forEach((raw, i) => {
    const code = raw.replace(/^\s*#.*$/, '');
    const joined = pending ? { line: pending.line, code: `${pending.code} ${code.trim()}` } : { line: i + 1, code };
    if (/\\$/.test(code)) pending = { line: joined.line, code: joined.code.replace(/\\$/, '') };
    else {
      pending = undefined;
      out.push(joined);
    }
  });
  return out;
}

describe('shell scripts', () => {
  const scripts = execFileSync('bash', ['.ci/shellcheck.sh', '--list'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n');

  it('.ci/shellcheck.sh finds every script: the .sh files and the extension-less ones with a shebang (.ci/run)', () => {
    for (const file of [
      '.ci/run',
      '.ci/tools.sh',
      '.ci/images.sh',
      '.ci/shellcheck.sh',
      'scripts/test.sh',
      'scripts/node24.sh',
      'test/interop/go/generate.sh',
    ])
      assert.ok(scripts.includes(file), file);
    assert.ok(!scripts.some((f) => f.includes('node_modules/')));
  });

  it('the detector flags the line that broke a cold machine, and its fixes pass', () => {
    const flagged = (code: string) => EARLY_READER.test(code);
    assert.equal(flagged('log "  $(podman run --rm "$BASE_IMAGE" java -version 2>&1 | head -n1)"'), true);
    assert.equal(flagged("dpkg-query -W -f='%s' \"$1\" | grep -q 'install ok installed'"), true);
    assert.equal(flagged("sed -n 's/x/y/p' f | sed -n '1{p;q}'"), true);
    assert.equal(flagged("cmd | awk '{ print; exit }'"), true);
    assert.equal(flagged('java_version="$(podman run --rm "$BASE_IMAGE" java -version 2>&1)"'), false);
    assert.equal(flagged("go install x 2>&1 | awk '/^go: downloading /{n++; next} {print}' >&2"), false);
    assert.equal(flagged("sed -n '/^x\\(y\\)/{s//\\1/p;q;}' file"), false);
    assert.equal(flagged('find . -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | cut -c1-12'), false);
  });

  for (const file of scripts) {
    it(`${file}: no early-closing reader at the end of a pipe`, () => {
      const found = codeLines(readFileSync(join(ROOT, file), 'utf8'))
        .filter(({ code }) => EARLY_READER.test(code))
        .map(({ line, code }) => `${file}:${line}: ${code.trim()}`);
      assert.deepEqual(found, []);
    });
  }
});
