/**
 * Transaction Tokens end to end (issue 22): a Keycloak user's access token (the shared Keycloak
 * container of the e2e suites) → the edge Envoy (ext_authz, mint) → hop 1 Envoy (authjwt's
 * verification mode) → a workload relaying the Txn-Token unmodified → hop 2 Envoy (jwt_authn on the
 * `Txn-Token` header, RBAC on `typ`) → the last service, which reads `sub`, `scope`, `tctx`. Every
 * Envoy file and authjwt's config are the deploy/txn-tokens examples with their addresses, issuer and
 * key directory replaced (test/helpers/txn-token-chain.ts). A forged, expired, other-trust-domain,
 * wrongly typed or missing Txn-Token is refused at every hop. With CI set, a missing container
 * runtime or Envoy FAILS the suite.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { findTool } from '../helpers/interop-tools.ts';
import { KEYCLOAK_IMAGE, NoContainerRuntimeError, startKeycloak, type RunningKeycloak } from '../helpers/keycloak.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';
import {
  badTxnTokens,
  exampleConfig,
  get,
  newTestSigningJwk,
  GATEWAY_WORKLOAD,
  startTxnTokenChain,
  TRUST_DOMAIN,
  type TxnTokenChain,
} from '../helpers/txn-token-chain.ts';

/** The example's requester scopes (deploy/txn-tokens/authjwt.yaml). */
const GATEWAY_SCOPES = ['openid', 'email', 'profile'];

describe(`Txn-Tokens end to end: Keycloak (${KEYCLOAK_IMAGE}) → edge Envoy → two internal hops`, () => {
  let kc: RunningKeycloak | undefined;
  let svc: RunningAuthJwt | undefined;
  let chain: TxnTokenChain | undefined;
  let dir: string | undefined;
  let skipReason: string | undefined;
  let signingJwk: Awaited<ReturnType<typeof newTestSigningJwk>>;

  before(async () => {
    const envoy = findTool('envoy');
    if (!envoy) {
      skipReason = missingPrerequisite('Txn-Token e2e suite', 'envoy is not installed: run  eval "$(bash .ci/tools.sh)"');
      return;
    }
    try {
      kc = await startKeycloak();
    } catch (error) {
      if (!(error instanceof NoContainerRuntimeError)) throw error;
      skipReason = missingPrerequisite('Txn-Token e2e suite', error.message);
      return;
    }
    dir = mkdtempSync(join(tmpdir(), 'authjwt-txn-e2e-'));
    mkdirSync(join(dir, 'keys'));
    signingJwk = await newTestSigningJwk('txn-e2e');
    writeFileSync(join(dir, 'keys', 'key.json'), JSON.stringify(signingJwk));
    svc = await startAuthJwt(
      exampleConfig({
        // The example's provider, at this Keycloak.
        provider: { id: 'keycloak', type: 'oidc', issuer: kc.issuer, audiences: ['frontend'], strategy: 'jwt' },
        keysDir: join(dir, 'keys'),
        tlsDir: dir,
      }),
    );
    chain = await startTxnTokenChain({ envoy, grpcPort: svc.app.grpcPort, httpPort: svc.app.httpPort });
  });
  after(async () => {
    await chain?.stop();
    await svc?.stop();
    await kc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("alice's Keycloak access token → edge (mint) → hop 1 (authjwt verify) → hop 2 (jwt_authn): the last service reads sub, scope, tctx", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token } = await kc!.userToken('alice', 'alice');
    const subject = decodeJwt(access_token) as { sub: string; scope: string; acr?: string; amr?: string[] };
    const res = await get(`${chain!.edge.url}/orders/42`, { authorization: `Bearer ${access_token}` });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.sub, `keycloak:${subject.sub}`);
    const expected = subject.scope.split(' ').filter((s) => GATEWAY_SCOPES.includes(s));
    assert.ok(expected.length > 0, `Keycloak's token carries some of ${GATEWAY_SCOPES} (${subject.scope})`);
    assert.deepEqual(res.body.scope.split(' '), expected, "the Txn-Token's scope: the subject token's, within the gateway's");
    assert.deepEqual(res.body.tctx, { idp: 'keycloak' });
    assert.equal(res.body.req_wl, GATEWAY_WORKLOAD);
    const seen = chain!.seen.at(-1)!;
    assert.equal(seen.typ, 'txntoken+jwt');
    assert.equal(seen.payload.aud, TRUST_DOMAIN);
    assert.equal(seen.authorization, undefined, "the user's access token stays outside the trust domain");
    assert.equal(seen.payload.rctx?.req_ip, '127.0.0.1', 'rctx.req_ip: the client address the edge Envoy saw');
    assert.equal(
      seen.payload.rctx?.authn,
      subject.amr?.length ? subject.amr.join(' ') : subject.acr,
      "rctx.authn: Keycloak's amr, else acr",
    );
    assert.ok(!JSON.stringify(seen.payload).includes(access_token.split('.')[2]!), 'the Txn-Token does not contain the access token');
  });

  it('two identical requests → two different txn', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token } = await kc!.userToken('alice', 'alice');
    const a = await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${access_token}` });
    const b = await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${access_token}` });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.notEqual(a.body.txn, b.body.txn);
  });

  it('a forged, expired, other-trust-domain, wrongly typed or missing Txn-Token is refused at every hop', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { access_token } = await kc!.userToken('bob', 'bob');
    const ok = await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${access_token}` });
    assert.equal(ok.status, 200);
    const bad = await badTxnTokens(chain!.seen.at(-1)!.txnToken!, signingJwk);
    const reached = chain!.seen.length;
    for (const [name, headers] of [...Object.entries(bad).map(([n, v]) => [n, { 'txn-token': v }] as const), ['missing', {}] as const]) {
      assert.equal((await get(`${chain!.edge.url}/orders/1`, headers)).status, 401, `edge, ${name}`);
      const hop1 = await get(`${chain!.hop1.url}/orders/1`, headers);
      assert.equal(hop1.status, 401, `hop 1, ${name}`);
      assert.equal(hop1.body.error, 'invalid_token', `hop 1, ${name}`);
      const hop2 = await get(`${chain!.hop2.url}/orders/1`, headers);
      assert.equal(hop2.status, name === 'otherTrustDomain' || name === 'wrongTyp' ? 403 : 401, `hop 2, ${name}`);
    }
    assert.equal(chain!.seen.length, reached, 'no refused request reached the last service');
  });

  it("a stolen Txn-Token sent with another user's access token is replaced at the edge", async (t) => {
    if (skipReason) return t.skip(skipReason);
    const alice = (await kc!.userToken('alice', 'alice')).access_token;
    await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${alice}` });
    const stolen = chain!.seen.at(-1)!.txnToken!;
    const bob = (await kc!.userToken('bob', 'bob')).access_token;
    const res = await get(`${chain!.edge.url}/orders/1`, { authorization: `Bearer ${bob}`, 'txn-token': stolen });
    assert.equal(res.status, 200);
    assert.equal(res.body.sub, `keycloak:${decodeJwt(bob).sub}`);
    assert.notEqual(chain!.seen.at(-1)!.txnToken, stolen);
  });
});
