/** A Transaction Token Service on a frozen clock with a real key store and signer (unit tests of src/txn-tokens). */
import { generateKeyPairSync } from 'node:crypto';
import type { Caller } from '../../../src/exchange/ports.ts';
import { CompactJwtSigner } from '../../../src/keys/jwt-signer.ts';
import { parseKeyFile } from '../../../src/keys/key-file.ts';
import { KeyStore } from '../../../src/keys/key-store.ts';
import { compilePolicy } from '../../../src/policy/index.ts';
import { type TxnRequesterPolicy, TxnTokenIssuer, type TxnSubject } from '../../../src/txn-tokens/issuer.ts';
import { verifyTxnToken } from '../../../src/txn-tokens/verify.ts';

export const TRUST_DOMAIN = 'trust-domain.example';
export const T0 = Date.UTC(2026, 11, 8, 6, 0, 0);

function caller(id: string, spiffeId = `spiffe://trust-domain.example/${id}`): Caller {
  return { kind: 'tls_client_auth', id, subject: spiffeId, issuer: '', spiffeId, namespace: '', serviceAccount: '' };
}

export const gateway = caller('gateway');
export const orders = caller('orders');
export const payments = caller('payments');

export const subject = (over: Partial<TxnSubject> = {}): TxnSubject => ({
  sub: 'kc:alice',
  claims: { sub: 'alice', scope: 'trade.read trade.stocks profile', email_verified: true, level: 'VIP' },
  scopes: ['trade.read', 'trade.stocks', 'profile'],
  provider: 'kc',
  strategy: 'jwt',
  accountId: 'alice',
  expiresAt: T0 + 300_000,
  ...over,
});

async function newKeyStore(clock: () => number): Promise<KeyStore> {
  const store = new KeyStore({ publishLeadTime: 0, clock });
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const [key] = await parseKeyFile('k1.json', JSON.stringify({ ...jwk, kid: 'k1' }));
  store.replaceKeys([key!]);
  return store;
}

export interface Tts {
  issuer: TxnTokenIssuer;
  store: KeyStore;
  clock: { now: number };
  verify: (token: string) => ReturnType<typeof verifyTxnToken>;
}

const requester = (over: Partial<TxnRequesterPolicy> & { client: string }): TxnRequesterPolicy => ({
  allow: undefined,
  scopes: undefined,
  requestDetails: new Set(),
  requestContext: new Set(),
  replace: false,
  ...over,
});

/** gateway: may set tctx.amount/action and relay req_ip; orders: may replace, may not set amount; payments: only trade.read. */
export async function newTts(options: { maxReplacements?: number; ttl?: number } = {}): Promise<Tts> {
  const clock = { now: T0 };
  const store = await newKeyStore(() => clock.now);
  const requesters = new Map<string, TxnRequesterPolicy>([
    [
      'gateway',
      requester({
        client: 'gateway',
        allow: compilePolicy({ allow: ['claims.email_verified == true'] }, { path: 'txnTokens.requesters[0]', lookups: [] }),
        requestDetails: new Set(['action', 'ticker', 'amount']),
        requestContext: new Set(['req_ip', 'transport']),
      }),
    ],
    [
      'orders',
      requester({ client: 'orders', replace: true, requestDetails: new Set(['order_id']), requestContext: new Set(['transport']) }),
    ],
    ['payments', requester({ client: 'payments', replace: true, scopes: new Set(['trade.read']) })],
  ]);
  const issuer = new TxnTokenIssuer({
    settings: {
      trustDomain: TRUST_DOMAIN,
      ttl: options.ttl ?? 60_000,
      maxReplacements: options.maxReplacements ?? 8,
      issuer: 'https://authjwt.example',
    },
    requesters,
    tctx: compilePolicy({ claims: { customer_level: 'claims.level' } }, { path: 'txnTokens', lookups: [] }),
    signer: new CompactJwtSigner(store),
    clock: () => clock.now,
  });
  const verify = (token: string) => verifyTxnToken(token, { trustDomain: TRUST_DOMAIN, keys: () => store.jwks(), clock: () => clock.now });
  return { issuer, store, clock, verify };
}
