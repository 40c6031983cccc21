/**
 * The edge's Transaction Token Service adapter (issue 22) with port fakes: what it asks the issuer for
 * (the gateway requester, no scope parameter, the observed address, the subject token for the
 * embedded-token check), that errors name the provider, that mint without a requester is refused, and
 * that verification is authjwt's own (trust domain, typ, signature).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEdgeTxnTokenService } from '../../../src/edge/txn-token-service.ts';
import { authJwtError, isAuthJwtError } from '../../../src/errors.ts';
import type { Caller } from '../../../src/exchange/ports.ts';
import type { TxnIssueInput } from '../../../src/txn-tokens/issuer.ts';

const gateway: Caller = {
  kind: 'edge',
  id: 'gw',
  subject: 'gw',
  issuer: '',
  spiffeId: 'spiffe://td/gw',
  namespace: '',
  serviceAccount: '',
};

function setup(options: { requester?: Caller | undefined; issueError?: Error } = {}) {
  const asked: TxnIssueInput[] = [];
  const service = createEdgeTxnTokenService({
    exchange: {
      verifySubject: async (input) => {
        if (input.token === 'bad') throw authJwtError('UPSTREAM_REJECTED_BY_PROVIDER', { metadata: { provider: 'op' } });
        return {
          provider: { id: 'op' } as never,
          identity: {
            accountId: 'alice',
            claims: { sub: 'alice', amr: ['pwd', 'otp'] },
            expiresAt: undefined,
            clientId: 'frontend',
            strategy: 'jwt',
            scopes: ['api'],
          },
          sub: 'op:alice',
        };
      },
    },
    issuer: {
      trustDomain: 'td.example',
      issue: async (input) => {
        asked.push(input);
        if (options.issueError) throw options.issueError;
        return {
          token: 'h.p.s',
          txn: 't-1',
          exp: 2_000_000_000,
          kid: 'k1',
          claims: { txn: 't-1' } as never,
          requester: 'gw',
          replacements: 0,
        };
      },
    },
    requester: 'requester' in options ? options.requester : gateway,
    keys: () => ({ keys: [] }),
    tokenIssuer: 'https://authjwt.test',
  });
  return { service, asked };
}

describe('createEdgeTxnTokenService', () => {
  it('mint: the gateway requests, no scope parameter (the issuer takes the subject scope within the gateway scopes), req_ip, authn, the subject token', async () => {
    const { service, asked } = setup();
    const minted = await service.mint({ token: 'access-token' }, { requester: 'gw', reqIp: '192.0.2.1' });
    assert.deepEqual([minted.token, minted.txn, minted.provider, minted.strategy, minted.kid], ['h.p.s', 't-1', 'op', 'jwt', 'k1']);
    const input = asked.at(-1)!;
    assert.equal(input.requester, gateway);
    assert.equal(input.requestedScope, undefined);
    assert.equal(input.reqIp, '192.0.2.1');
    assert.equal(input.authn, 'pwd otp');
    assert.equal(input.subjectToken, 'access-token');
    assert.deepEqual([input.subject!.sub, input.subject!.provider, input.subject!.scopes], ['op:alice', 'op', ['api']]);
  });

  it('mint without a configured requester is refused before any verification (ERR_AUTHJWT_EDGE_TXN_TOKEN_MODE)', async () => {
    const { service, asked } = setup({ requester: undefined });
    await assert.rejects(service.mint({ token: 'access-token' }, { requester: 'gw', reqIp: undefined }), {
      code: 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MODE',
    });
    assert.equal(asked.length, 0);
  });

  it("an issuance refusal names the subject's provider (metrics and ErrorInfo)", async () => {
    const { service } = setup({ issueError: authJwtError('TXN_SUBJECT_SCOPE_UNKNOWN') });
    const error = await service.mint({ token: 'access-token' }, { requester: 'gw', reqIp: undefined }).catch((e: unknown) => e);
    assert.ok(isAuthJwtError(error));
    assert.equal(error.code, 'ERR_AUTHJWT_TXN_SUBJECT_SCOPE_UNKNOWN');
    assert.equal(error.metadata.provider, 'op');
  });

  it('verify: a token not signed by authjwt is refused as ERR_AUTHJWT_TXN_TOKEN_INVALID (never passed on)', async () => {
    const { service } = setup();
    const forged = `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'txntoken+jwt', kid: 'x' })).toString('base64url')}.${Buffer.from('{}').toString('base64url')}.c2ln`;
    await assert.rejects(service.verify(forged), { code: 'ERR_AUTHJWT_TXN_TOKEN_INVALID' });
  });
});
