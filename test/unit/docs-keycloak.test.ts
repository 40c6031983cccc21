/**
 * docs/strategies.md gives the Keycloak client setup for each strategy; the e2e realm
 * (test/fixtures/keycloak-realm.json) must be exactly that, so a user following the docs gets what the
 * e2e suite proves. Each JSON block after a `<!-- keycloak-fixture: clients[<id>](.protocolMappers[<name>])? -->`
 * marker must match the fixture (every documented member present with the same value).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const read = (p: string) => readFileSync(fileURLToPath(new URL(p, import.meta.url)), 'utf8');
const realm = JSON.parse(read('../fixtures/keycloak-realm.json')) as {
  clients: { clientId: string; attributes?: Record<string, string>; protocolMappers?: { name: string }[] }[];
};
const docs = read('../../docs/strategies.md');

/** Every member of `documented` is in `actual` with a deep-equal value (objects recursively). */
function assertContains(actual: unknown, documented: unknown, path: string): void {
  if (documented && typeof documented === 'object' && !Array.isArray(documented)) {
    assert.ok(actual && typeof actual === 'object', `${path}: missing in the fixture`);
    for (const [k, v] of Object.entries(documented)) assertContains((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else {
    assert.deepEqual(actual, documented, path);
  }
}

it('every Keycloak JSON block of docs/strategies.md is what the e2e realm fixture has', () => {
  const blocks = [
    ...docs.matchAll(/<!-- keycloak-fixture: clients\[([^\]]+)\](?:\.protocolMappers\[([^\]]+)\])? -->\s*```json\n([\s\S]*?)```/g),
  ];
  assert.ok(blocks.length >= 2, 'the introspection setup is documented with fixture markers');
  for (const [, clientId, mapper, json] of blocks) {
    const client = realm.clients.find((c) => c.clientId === clientId);
    assert.ok(client, `client ${clientId} is in the fixture`);
    const target = mapper ? client.protocolMappers?.find((m) => m.name === mapper) : client;
    assert.ok(target, `${clientId}: mapper ${mapper} is in the fixture`);
    assertContains(target, JSON.parse(json!), `clients[${clientId}]${mapper ? `.protocolMappers[${mapper}]` : ''}`);
  }
});

it('the realm relies on the documented audience mapper only (no introspection-without-audience-check shortcut)', () => {
  const authjwt = realm.clients.find((c) => c.clientId === 'authjwt')!;
  assert.equal(authjwt.attributes?.['allow.token.introspection.without.audience.check'], undefined);
});
