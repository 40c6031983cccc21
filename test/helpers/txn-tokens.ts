/**
 * A Transaction Token Service for tests (issue 22): authjwt with an HTTPS internal listener that asks
 * for client certificates, requesters authenticated by mTLS (SPIFFE IDs in their certificates), a
 * real OIDC provider for subject tokens. Used by the conformance suite and the interop verifier.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startAuthJwt, type RunningAuthJwt } from './authjwt.ts';
import { makeCa, makeCert, type Pem } from './certs.ts';
import { startOidcProvider, USERS, type OidcTestProvider } from './oidc.ts';
import { postFormOverTls, type FormAnswer as Answer } from './tls-form.ts';

export const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
export const TXN = 'urn:ietf:params:oauth:token-type:txn_token';
export const TRUST_DOMAIN = 'trust-domain.example';
export const GATEWAY = 'spiffe://trust-domain.example/ns/edge/sa/gateway';
export const ORDERS = 'spiffe://trust-domain.example/ns/orders/sa/orders';
export const STRANGER = 'spiffe://trust-domain.example/ns/misc/sa/stranger';

export type { FormAnswer as Answer } from './tls-form.ts';

export interface TxnTts {
  svc: RunningAuthJwt;
  op: OidcTestProvider;
  /** Requesters' client certificates: gateway and orders are requesters, stranger a registered client that is not. */
  gateway: Pem;
  orders: Pem;
  stranger: Pem;
  /** POSTs a form to the token endpoint; `null`: no client certificate (the anonymous requester). */
  post(form: Record<string, string> | URLSearchParams, client: Pem | null): Promise<Answer>;
  /** A Txn-Token Request form with the draft's parameters; `undefined` drops one. */
  txnRequest(subjectToken: string, over?: Record<string, string | undefined>): Record<string, string>;
  /** alice's JWT access token with scopes trade.read trade.stocks. */
  alice: string;
  /** A self-signed JWT of the orders workload (`…:self_signed`, provider `workloads`, workload scopes orders.read orders.write). */
  selfSigned(claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export async function startTxnTts(): Promise<TxnTts> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-txn-'));
  const { cert: ca } = makeCa(dir, 'server-ca');
  const server = makeCert(dir, 'server-ca', 'server', { san: 'DNS:localhost,IP:127.0.0.1', usage: 'serverAuth' });
  makeCa(dir, 'clients-ca');
  const gateway = makeCert(dir, 'clients-ca', 'gateway', { san: `URI:${GATEWAY}`, usage: 'clientAuth' });
  const orders = makeCert(dir, 'clients-ca', 'orders', { san: `URI:${ORDERS}`, usage: 'clientAuth' });
  const stranger = makeCert(dir, 'clients-ca', 'stranger', { san: `URI:${STRANGER}`, usage: 'clientAuth' });
  copyFileSync(join(dir, 'clients-ca.crt'), join(dir, 'trust.pem'));
  const op = await startOidcProvider();
  const workload = await generateKeyPair('ES256', { extractable: true });
  const workloadJwk = { ...(await exportJWK(workload.publicKey)), kid: 'orders-1', alg: 'ES256', use: 'sig' };
  const alice = await op.jwtToken(USERS.alice!, { scope: 'trade.read trade.stocks' });
  const svc = await startAuthJwt({
    clockTolerance: '0s',
    internalHttp: { tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: join(dir, 'trust.pem') } },
    tokenEndpoint: {
      enabled: true,
      url: 'https://authjwt.auth.svc:8081/token',
      clientAuthentication: {
        // `none` is accepted for plain access tokens: the TTS itself must refuse the anonymous requester.
        methods: ['none', 'tls_client_auth'],
        clients: [
          { id: 'gateway', tlsClientAuth: { spiffeId: GATEWAY } },
          { id: 'orders', tlsClientAuth: { spiffeId: ORDERS } },
          { id: 'stranger', tlsClientAuth: { spiffeId: STRANGER } },
        ],
      },
    },
    txnTokens: {
      trustDomain: TRUST_DOMAIN,
      ttl: '1m',
      maxReplacements: 2,
      tctx: { customer: 'claims.sub' },
      requesters: [
        {
          client: 'gateway',
          allow: [{ name: 'not-bob', expression: `claims.sub != '${USERS.bob!.sub}'` }],
          requestDetails: ['action', 'ticker', 'amount'],
          requestContext: ['req_ip', 'transport'],
        },
        { client: 'orders', replace: true, requestDetails: ['order_id'] },
      ],
    },
    providers: [
      { id: 'kc', type: 'oidc', issuer: op.issuer, audiences: ['frontend'], strategy: 'jwt' },
      { id: 'kc-userinfo', type: 'oidc', issuer: op.issuer, strategy: 'userinfo' },
      // Workloads' own JWTs (…:self_signed), for Txn-Token requests only (selfSigned.accessTokens off).
      {
        id: 'workloads',
        selfSigned: {
          replayStore: 'memory',
          workloads: [{ id: ORDERS, jwks: { keys: [workloadJwk] }, scopes: ['orders.read', 'orders.write'] }],
        },
      },
    ],
  });
  const port = svc.app.internalHttpPort!;

  const post = (form: Record<string, string> | URLSearchParams, client: Pem | null): Promise<Answer> =>
    postFormOverTls(port, ca, form, client);
  const txnRequest = (subjectToken: string, over: Record<string, string | undefined> = {}) => {
    const all: Record<string, string | undefined> = {
      grant_type: GRANT,
      requested_token_type: TXN,
      audience: TRUST_DOMAIN,
      scope: 'trade.stocks',
      subject_token: subjectToken,
      subject_token_type: ACCESS,
      ...over,
    };
    return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
  };
  return {
    svc,
    op,
    gateway,
    orders,
    stranger,
    post,
    txnRequest,
    alice,
    selfSigned(claims = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: ORDERS, sub: ORDERS, aud: svc.config.issuer, iat: now, exp: now + 60, jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'orders-1', typ: 'JWT' })
        .sign(workload.privateKey);
    },
    async close() {
      await svc.stop();
      await op.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
