/**
 * The layering and cycle rules of biome.jsonc (run over the real tree by `npm run lint`) still bite:
 * probe files in a scratch tree linted with the repository's own configuration. Guards against a
 * pattern that silently stops matching (a Biome upgrade, a moved folder, an edited glob).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIOME = join(ROOT, 'node_modules/.bin/biome');

const PROBES: Record<string, string[]> = {
  'src/exchange/forbidden.ts': [
    "import { trace } from '@opentelemetry/api';",
    "import type { Config } from '../config/load.ts';",
    "import { metrics } from '../telemetry/metrics.ts';",
    "import { toGrpcStatus } from '../grpc/status.ts';",
    "import { startHttpServer } from '../http/server.ts';",
    "import { status } from '@grpc/grpc-js';",
  ],
  'src/exchange/steps/nested.ts': ["import { loadConfigFile } from '../../config/load.ts';"],
  'src/exchange/allowed.ts': [
    "import { randomUUID } from 'node:crypto';",
    "import { jwtVerify } from 'jose';",
    "import type { Signer } from '../keys/jwt-signer.ts';",
    "import { invalidArgument } from '../errors.ts';",
    "import type { Port } from './ports.ts';",
  ],
  'src/keys/elsewhere.ts': ["import { trace } from '@opentelemetry/api';", "import type { Config } from '../config/load.ts';"],
  'src/cycle-a.ts': ["import type { B } from './cycle-b.ts';", 'export type A = { b?: B };'],
  'src/cycle-b.ts': ["import type { A } from './cycle-a.ts';", 'export type B = { a?: A };'],
};

describe('architecture rules (biome.jsonc)', () => {
  let dir: string;
  const found: string[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'authjwt-arch-'));
    copyFileSync(join(ROOT, 'biome.jsonc'), join(dir, 'biome.jsonc'));
    for (const [file, lines] of Object.entries(PROBES)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), `${lines.join('\n')}\nexport {};\n`);
    }
    const run = spawnSync(BIOME, ['lint', '--vcs-enabled=false', '--reporter=github', '--max-diagnostics=100', '.'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(run.error, undefined, String(run.error));
    assert.doesNotMatch(run.stderr, /configuration resulted in errors|internalError/, run.stderr);
    for (const m of run.stdout.matchAll(/^::error title=lint\/[a-z]+\/(\w+),file=([^,]+),line=(\d+),/gm)) {
      found.push(`${m[2]!.slice(dir.length + 1)}:${m[3]} ${m[1]}`);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('src/exchange/ may not import config/, telemetry/, grpc/, http/, @opentelemetry/* or @grpc/* (nested folders too)', () => {
    const restricted = found.filter((f) => f.endsWith('noRestrictedImports')).sort();
    const expected = [
      ...PROBES['src/exchange/forbidden.ts']!.map((_, i) => `src/exchange/forbidden.ts:${i + 1} noRestrictedImports`),
      'src/exchange/steps/nested.ts:1 noRestrictedImports',
    ];
    assert.deepEqual(restricted, expected.sort());
  });

  it('ports, errors, keys, node: and libraries stay allowed in src/exchange/; other folders are not restricted', () => {
    assert.deepEqual(
      found.filter((f) => f.startsWith('src/exchange/allowed.ts') || f.startsWith('src/keys/')),
      [],
    );
  });

  it('an import cycle is an error, type-only imports included', () => {
    assert.ok(
      found.some((f) => /^src\/cycle-[ab]\.ts:1 noImportCycles$/.test(f)),
      found.join('\n'),
    );
  });
});
