/**
 * docs/security.md claims only controls that a test proves, so its references must not rot:
 * - every test it cites as `file` › "name" (› "nested name"; "another name" …) exists in that file
 *   under exactly that name. A name built from a table (`it(`rejects: ${c.name}`)`) is written out in
 *   full; it matches when the literal parts of the title are equal and each interpolated part is a
 *   string literal (or a number) of the file: the table row;
 * - every `src/…` and `test/…` path it names exists;
 * - every control it names as `name` (`src/file.ts`) — a function, class, `Class.method` or constant —
 *   occurs in that file;
 * - the property-test figure it quotes is the suite's default number of runs.
 * The checker is tested against invented references too, so that it cannot pass by accepting anything.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const collapse = (s: string) => s.replace(/\s+/g, ' ');
const squash = (s: string) => collapse(s).trim();

/** A test title as written in the source: literal text, with `null` where a template interpolates. */
type Title = (string | null)[];

/** The titles of it/test/describe/suite calls whose first argument is a string or template literal. */
function testTitles(source: string): Title[] {
  const titles: Title[] = [];
  const call = /(?<![\w.$])(?:it|test|describe|suite)(?:\.(?:only|skip|todo))?\(\s*(['"`])/g;
  for (let m = call.exec(source); m; m = call.exec(source)) {
    const quote = m[1]!;
    const parts: Title = [];
    let text = '';
    let i = call.lastIndex;
    while (i < source.length && source[i] !== quote) {
      if (source[i] === '\\') {
        text += source[i + 1];
        i += 2;
      } else if (quote === '`' && source.startsWith('${', i)) {
        let depth = 1;
        for (i += 2; depth > 0 && i < source.length; i++) depth += source[i] === '{' ? 1 : source[i] === '}' ? -1 : 0;
        parts.push(text, null);
        text = '';
      } else {
        text += source[i++];
      }
    }
    parts.push(text);
    titles.push(parts);
  }
  return titles;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `part` is a whole string literal of `source` ('part', "part", `part`), or a number written in it. */
function isLiteralIn(source: string, part: string): boolean {
  const text = squash(source);
  if (["'", '"', '`'].some((q) => text.includes(`${q}${part}${q}`))) return true;
  return /^\d+$/.test(part) && new RegExp(`(?<![\\w.])${part}(?![\\w.])`).test(text.replace(/(\d)_(?=\d)/g, '$1'));
}

/** True when `name` is one of the file's test titles (table-built titles: see the header). */
function hasTestNamed(source: string, name: string): boolean {
  const wanted = squash(name);
  return testTitles(source).some((title) => {
    if (!title.includes(null)) return squash(title.join('')) === wanted;
    const literal = title.map((p) => (p === null ? p : collapse(p)));
    literal[0] = literal[0]!.trimStart();
    literal[literal.length - 1] = literal.at(-1)!.trimEnd();
    const pattern = new RegExp(`^${literal.map((p) => (p === null ? '(.+?)' : escapeRegExp(p))).join('')}$`);
    const m = pattern.exec(wanted);
    return m?.slice(1).every((part) => isLiteralIn(source, part)) ?? false;
  });
}

interface TestReference {
  file: string;
  names: string[];
}

/**
 * Paragraphs and list items of a Markdown text as single lines, headings and table rows as they are
 * (code blocks left out), so that a test name wrapped over two lines reads as written in the test.
 */
function logicalLines(markdown: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let fenced = false;
  const flush = () => {
    if (current.length) out.push(squash(current.join(' ')));
    current = [];
  };
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      flush();
      fenced = !fenced;
    } else if (fenced) {
      // code: not prose
    } else if (line.trim() === '') {
      flush();
    } else if (line.startsWith('#') || line.startsWith('|')) {
      flush();
      out.push(squash(line));
    } else {
      if (/^\s*([-*]|\d+\.) /.test(line)) flush();
      current.push(line);
    }
  }
  flush();
  return out;
}

/**
 * The test references of a Markdown text: `test/….test.ts` › "name" (› "name"; "name" …). Names are in
 * double quotes; a name that contains a double quote ends at the first closing quote that makes it an
 * existing title (`isName`), so `"lookups are paginated (Link rel="next") and bounded"` reads whole.
 */
function testReferences(markdown: string, isName: (file: string, name: string) => boolean): TestReference[] {
  const refs: TestReference[] = [];
  for (const line of logicalLines(markdown)) {
    const starts = [...line.matchAll(/`(test\/[^`\s]+\.test\.ts)`\s*›/g)];
    starts.forEach((start, k) => {
      const file = start[1]!;
      const end = k + 1 < starts.length ? starts[k + 1]!.index : line.length;
      const segment = line.slice(start.index + start[0].length, end);
      const names: string[] = [];
      for (let i = segment.indexOf('"'); i >= 0; ) {
        const closes: number[] = [];
        for (let j = segment.indexOf('"', i + 1); j >= 0; j = segment.indexOf('"', j + 1)) closes.push(j);
        if (!closes.length) break;
        const close = closes.find((j) => isName(file, segment.slice(i + 1, j))) ?? closes[0]!;
        names.push(segment.slice(i + 1, close));
        i = segment.indexOf('"', close + 1);
      }
      refs.push({ file, names });
    });
  }
  return refs;
}

const sources = new Map<string, string>();
const sourceOf = (path: string) => {
  if (!sources.has(path)) sources.set(path, existsSync(`${root}${path}`) ? read(path) : '');
  return sources.get(path)!;
};
const isName = (file: string, name: string) => hasTestNamed(sourceOf(file), name);

/** Problems of the references in `markdown`: missing files, unknown test names, unknown code names. */
function referenceProblems(markdown: string): string[] {
  const problems: string[] = [];
  const refs = testReferences(markdown, isName);
  const lines = logicalLines(markdown);
  const text = lines.join('\n');
  // A list item that starts with a test file cites its tests (› "name") or describes them (`file`: …).
  for (const line of lines) {
    const m = /^- `(test\/[^`]+\.test\.ts)`(?!\s*›|:)/.exec(line);
    if (m) problems.push(`${m[1]}: write \`file\` › "test name" (or \`file\`: prose)`);
  }
  const missing = new Set([...text.matchAll(/`((?:src|test)\/[^`\s]*)`/g)].map((m) => m[1]!).filter((p) => !existsSync(`${root}${p}`)));
  for (const path of missing) problems.push(`${path}: no such file or directory`);
  for (const { file, names } of refs) {
    if (missing.has(file)) continue;
    if (!names.length) problems.push(`${file} ›: no quoted test name after ›`);
    for (const name of names) if (!isName(file, name)) problems.push(`${file} › "${name}": no test of that name`);
  }
  // `name` (`src/file.ts`) or (`name`, `src/file.ts`); also `a`, `b` (`src/file.ts`), `Class.method`, `Class.#field`.
  const control = /((?:`[A-Za-z_$][\w$.#]*(?:\(\))?`(?:, | and | or | → )?)+?)(?: \(|(?<=, ))`(src\/[^`]+\.ts)`/g;
  for (const [, names, path] of text.matchAll(control)) {
    const source = sourceOf(path!);
    for (const [, name] of names!.matchAll(/`([^`]+)`/g)) {
      const member = name!.replace(/\(\)$/, '').split('.').pop()!;
      if (!new RegExp(`(?<![\\w$])${escapeRegExp(member)}(?![\\w$])`).test(source)) problems.push(`${name} (${path}): not in that file`);
    }
  }
  return problems;
}

describe('docs/security.md references', () => {
  const doc = read('docs/security.md');

  it('every cited test exists under that name, every named file exists, every named control is in its file', () => {
    assert.ok(testReferences(doc, isName).length >= 40, 'the threat model cites its tests as `file` › "name"');
    assert.deepEqual(referenceProblems(doc), []);
  });

  it('the property-test run count it quotes is the suite default', () => {
    const runs = /const RUNS = Number\(process\.env\.AUTHJWT_PROPERTY_RUNS \?\? ([\d_]+)\)/.exec(
      sourceOf('test/integration/property.test.ts'),
    );
    assert.ok(runs, 'test/integration/property.test.ts declares RUNS');
    const figure = Number(runs[1]!.replaceAll('_', '')).toLocaleString('en-US');
    assert.match(doc, new RegExp(`sends ${escapeRegExp(figure)} generated requests`));
  });

  it('the checker bites: invented names, files and controls are reported', () => {
    const invented = [
      '- `test/unit/config/load.test.ts` › "rejects: a case nobody wrote"',
      '- `test/unit/config/load.test.ts` › "accepts the base config used by the cases below"; "is deep-frozen!"',
      '- `test/unit/no-such.test.ts` › "anything"',
      '- `test/unit/config/load.test.ts` (the loader) › "is deep-frozen"',
      '- `test/integration/request-validation.test.ts` › "→ INVALID_ARGUMENT"; "account id → INVALID_ARGUMENT"',
      '- Checked by `checkNothing` (`src/providers/token-rules.ts`) and `src/no/such.ts`.',
      '- Also (`checkTimes`, `src/providers/token-rules.ts`) but not (`checkEverything`, `src/providers/token-rules.ts`).',
    ].join('\n');
    assert.deepEqual(referenceProblems(invented), [
      'test/unit/config/load.test.ts: write `file` › "test name" (or `file`: prose)',
      'test/unit/no-such.test.ts: no such file or directory',
      'src/no/such.ts: no such file or directory',
      'test/unit/config/load.test.ts › "rejects: a case nobody wrote": no test of that name',
      'test/unit/config/load.test.ts › "is deep-frozen!": no test of that name',
      'test/integration/request-validation.test.ts › "→ INVALID_ARGUMENT": no test of that name',
      // A table name whose interpolated part is only a piece of a row ("account id too long").
      'test/integration/request-validation.test.ts › "account id → INVALID_ARGUMENT": no test of that name',
      'checkNothing (src/providers/token-rules.ts): not in that file',
      'checkEverything (src/providers/token-rules.ts): not in that file',
    ]);
  });

  it('reads names that contain double quotes, wrap over lines or come from a table', () => {
    const refs = testReferences(
      [
        '- `test/integration/policy.test.ts` › "lookups are paginated (Link rel="next") and bounded at 3 pages"; "GitLab down',
        '  during the lookup → UNAVAILABLE"',
        '- `test/unit/config/load.test.ts` › "rejects: http issuer on a non-loopback host without allowHttp"',
      ].join('\n'),
      isName,
    );
    assert.deepEqual(refs, [
      {
        file: 'test/integration/policy.test.ts',
        names: ['lookups are paginated (Link rel="next") and bounded at 3 pages', 'GitLab down during the lookup → UNAVAILABLE'],
      },
      { file: 'test/unit/config/load.test.ts', names: ['rejects: http issuer on a non-loopback host without allowHttp'] },
    ]);
    assert.deepEqual(
      refs.flatMap((r) => r.names.filter((n) => !isName(r.file, n))),
      [],
    );
  });
});
