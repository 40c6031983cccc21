/**
 * docs/txn-tokens.md stays true: its configuration example is a valid configuration whose CEL compiles,
 * it names the draft revision the code implements, every error code it cites exists, and it ends with
 * the section the edge work fills.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { buildConfig } from '../../src/config/load.ts';
import { ERRORS } from '../../src/errors.ts';
import { CompactJwtSigner } from '../../src/keys/jwt-signer.ts';
import { KeyStore } from '../../src/keys/key-store.ts';
import { createTxnTokenIssuer } from '../../src/txn-tokens/build.ts';
import { TXN_DRAFT_REVISION } from '../../src/txn-tokens/constants.ts';

const md = readFileSync(fileURLToPath(new URL('../../docs/txn-tokens.md', import.meta.url)), 'utf8');

it('the configuration example is valid, without warnings, and its CEL compiles', () => {
  const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(blocks.length, 1);
  const config = buildConfig(parseYaml(blocks[0]!));
  assert.deepEqual(config.warnings, []);
  assert.equal(config.txnTokens?.trustDomain, 'trust-domain.example');
  const issuer = createTxnTokenIssuer(config.txnTokens!, {
    signer: new CompactJwtSigner(new KeyStore({ publishLeadTime: 0 })),
    issuer: config.issuer,
  });
  assert.equal(
    issuer.requesterOf({ kind: 'tls_client_auth', id: 'orders', subject: '', issuer: '', spiffeId: '', namespace: '', serviceAccount: '' })
      ?.replace,
    true,
  );
});

it('names the draft revision the code implements', () => {
  const commit = /editor copy ([0-9a-f]{7})/.exec(TXN_DRAFT_REVISION)?.[1];
  assert.ok(commit, TXN_DRAFT_REVISION);
  assert.match(md, new RegExp(`at commit \`${commit}\``));
});

it('every ERR_AUTHJWT_ code it cites is in the catalogue', () => {
  const cited = [...md.matchAll(/ERR_AUTHJWT_([A-Z_]*[A-Z])(?![A-Z_*])/g)].map((m) => m[1]!);
  assert.ok(cited.length >= 3);
  for (const name of cited) assert.ok(Object.hasOwn(ERRORS, name), `${name} is in src/errors.ts`);
});

it('ends with the section the edge doors fill', () => {
  const headings = [...md.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  assert.equal(headings.at(-1), 'At the edge and internal hops');
});
