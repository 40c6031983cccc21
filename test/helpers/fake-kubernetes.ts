/**
 * FAKE Kubernetes API server (HTTPS on loopback, its own CA) for the `kubernetes` provider: the
 * service-account issuer's OIDC discovery document and JWKS — served ONLY to a Bearer token it knows
 * (401 otherwise, 403 without the RBAC a test grants), as an API server without anonymous discovery
 * access does — and TokenReview (authentication.k8s.io/v1). It issues projected service-account
 * tokens with exactly the fields Kubernetes 1.30+ puts in them. Not a Kubernetes implementation: the
 * real API server comes with issue 20's cluster; this stands in where a test must script what the API
 * server says (a deleted pod, an outage, a key rotation, a 403).
 *
 * Token shape, from kubernetes/kubernetes:
 * - pkg/serviceaccount/claims.go `Claims()`: `sub` = `system:serviceaccount:<ns>:<name>`, `aud` (a
 *   list), `iat` = `nbf` = now, `exp` = now + expirationSeconds, `jti` (a UUID; ServiceAccountTokenJTI,
 *   beta and on since 1.30), and the private claim `kubernetes.io` = {`namespace`,
 *   `serviceaccount` {name, uid}, then for a pod-bound token `pod` {name, uid} and its `node`
 *   {name, uid} (ServiceAccountTokenPodNodeInfo, 1.30+), for a secret-bound one `secret` {name, uid},
 *   and `warnafter` on a token whose expiry the API server extended};
 * - pkg/serviceaccount/jwt.go: `iss` = the issuer (`--service-account-issuer`), JWS header `alg`
 *   RS256 (RSA keys) and `kid` = base64url(SHA-256(PKIX DER of the public key))
 *   (`keyIDFromPublicKey`), no `typ`;
 * - pkg/serviceaccount/openidmetadata.go: discovery at `/.well-known/openid-configuration` with
 *   `issuer`, `jwks_uri` (by default `https://<external address>/openid/v1/jwks` — another origin than
 *   `kubernetes.default.svc`, which this fake reproduces), `response_types_supported: ["id_token"]`,
 *   `subject_types_supported: ["public"]`, `id_token_signing_alg_values_supported`; keys at
 *   `/openid/v1/jwks` with `use: sig`, `alg`, `kid`.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign, exportJWK, exportSPKI, generateKeyPair, jwtVerify, createLocalJWKSet, type CryptoKey, type JWK } from 'jose';

/** A service account of the fake cluster. */
export interface ServiceAccount {
  namespace: string;
  name: string;
  uid: string;
}

export interface IssueOptions {
  /** `aud`; default `['authjwt']`. */
  audiences?: string[];
  /** Default 3600 (kubelet's default `expirationSeconds`). */
  expirationSeconds?: number;
  /** Seconds added to now for `iat`/`nbf`/`exp` (negative: issued in the past). */
  shift?: number;
  /** What the token is bound to. Default `pod`. */
  boundTo?: 'pod' | 'secret' | 'none';
  /** `kubernetes.io.warnafter`, seconds after issue (an extended token). */
  warnAfterSeconds?: number;
  /** Sign with this key id (one of `rotate()`'s or a rogue key's); default the current key. */
  kid?: string;
  /** Change the payload before signing (negative cases). */
  mutate?: (payload: Record<string, unknown>) => void;
}

export interface IssuedToken {
  token: string;
  payload: Record<string, unknown>;
  pod: { name: string; uid: string } | undefined;
}

export interface FakeRequest {
  method: string;
  path: string;
  /** The Bearer token presented, if any. */
  bearer: string | undefined;
  status: number;
}

export interface FakeKubernetes {
  /** `https://127.0.0.1:<port>`: the `kubernetes.apiServer` to configure. */
  apiServer: string;
  issuer: string;
  /** Files for authjwt: its own service-account token (accepted by this API server) and the CA. */
  tokenFile: string;
  caFile: string;
  dir: string;
  requests: FakeRequest[];
  /** RBAC of authjwt's token: discovery/JWKS (`system:service-account-issuer-discovery`), TokenReview (`system:auth-delegator`). */
  grants: { discovery: boolean; tokenReview: boolean };
  /** The token authjwt presents; replace it to simulate rotation (the file is rewritten). */
  rotateReaderToken(): string;
  /** Signs a projected token for `sa` as the API server would. */
  issue(sa: ServiceAccount, options?: IssueOptions): Promise<IssuedToken>;
  /** Adds a new signing key (published in the JWKS at once) and signs with it from now on; returns its kid. */
  rotate(): Promise<string>;
  /** A key never published: tokens signed with it have an unknown kid. */
  rogueKid(): Promise<string>;
  /** The published JWKS (for static-file mode). */
  jwks(): { keys: JWK[] };
  /** Deletes the pod (or secret) a token is bound to: TokenReview answers unauthenticated from then on. */
  deleteBoundObject(uid: string): void;
  /** While down, every connection is reset (an API server outage). */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA and a server certificate for 127.0.0.1 and localhost, generated here (never committed). */
function makeTls(dir: string): void {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=fake-kubernetes-ca',
    '-days',
    '1',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n');
  openssl(
    dir,
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=kube-apiserver',
  );
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '1',
    '-extfile',
    'server.ext',
  );
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A signing key as the API server makes it: RSA 2048, RS256, kid from the public key's DER (jwt.go keyIDFromPublicKey). */
async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const spki = await exportSPKI(publicKey);
  const der = Buffer.from(spki.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const kid = createHash('sha256').update(der).digest('base64url');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), use: 'sig', alg: 'RS256', kid } };
}

export async function startFakeKubernetes(options: { issuer?: string } = {}): Promise<FakeKubernetes> {
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-fake-k8s-'));
  makeTls(dir);
  const issuer = options.issuer ?? 'https://kubernetes.default.svc.cluster.local';
  const keys: SigningKey[] = [await newKey()];
  let signing = keys[0]!;
  const rogue: SigningKey[] = [];
  const deleted = new Set<string>();
  const requests: FakeRequest[] = [];
  const grants = { discovery: true, tokenReview: true };
  let down = false;
  let readerToken = `reader-${randomUUID()}`;
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  writeFileSync(tokenFile, `${readerToken}\n`);
  const jwks = () => ({ keys: keys.map((k) => k.publicJwk) });

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  const status = (res: ServerResponse, code: number, reason: string, message: string) =>
    send(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => resolve(body)).on('error', reject);
    });

  /** The API server's TokenReview: signature, expiry, audiences, and that the bound object still exists. */
  const review = async (spec: { token?: string; audiences?: string[] }) => {
    const unauthenticated = (error: string) => ({ authenticated: false, error });
    try {
      const { payload } = await jwtVerify(spec.token ?? '', createLocalJWKSet(jwks()), { issuer });
      const auds = (Array.isArray(payload.aud) ? payload.aud : [payload.aud]) as string[];
      const requested = spec.audiences ?? [issuer];
      const granted = auds.filter((a) => requested.includes(a));
      if (!granted.length)
        return unauthenticated(`token audiences ${JSON.stringify(auds)} is invalid for the target audiences ${JSON.stringify(requested)}`);
      const k = payload['kubernetes.io'] as {
        namespace: string;
        serviceaccount: { name: string; uid: string };
        pod?: { uid: string };
        secret?: { uid: string };
      };
      if (deleted.has(k.serviceaccount.uid))
        return unauthenticated(`service account ${k.namespace}/${k.serviceaccount.name} has been deleted`);
      if ((k.pod && deleted.has(k.pod.uid)) || (k.secret && deleted.has(k.secret.uid)))
        return unauthenticated('service account token has been invalidated');
      return {
        authenticated: true,
        user: {
          username: payload.sub,
          uid: k.serviceaccount.uid,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'],
          extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${String(payload.jti)}`] },
        },
        audiences: granted,
      };
    } catch (error) {
      return unauthenticated(`invalid bearer token, ${(error as Error).message}`);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const record: FakeRequest = { method: req.method ?? 'GET', path, bearer, status: 0 };
    requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    // Authentication first: discovery, JWKS and TokenReview all need it here (no anonymous access).
    if (bearer !== readerToken) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const forbidden = () => status(res, 403, 'Forbidden', `forbidden: User "system:serviceaccount:auth:authjwt" cannot get path "${path}"`);
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
      if (!grants.discovery) return forbidden();
      return send(res, 200, {
        issuer,
        jwks_uri: 'https://172.18.0.2:6443/openid/v1/jwks',
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (req.method === 'GET' && path === '/openid/v1/jwks') {
      if (!grants.discovery) return forbidden();
      return send(res, 200, jwks());
    }
    if (req.method === 'POST' && path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      if (!grants.tokenReview) return forbidden();
      const body = JSON.parse(await readBody(req)) as { spec?: { token?: string; audiences?: string[] } };
      const spec = body.spec ?? {};
      return send(res, 201, {
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: { audiences: spec.audiences },
        status: await review(spec),
      });
    }
    return status(res, 404, 'NotFound', 'the server could not find the requested resource');
  };

  const server: Server = createServer(
    { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) },
    (req, res) => void handle(req, res).catch(() => res.destroy()),
  );
  server.on('connection', (socket) => {
    if (down) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const keyOf = (kid: string | undefined) => (kid === undefined ? signing : [...keys, ...rogue].find((k) => k.kid === kid)!);

  return {
    apiServer: `https://127.0.0.1:${port}`,
    issuer,
    tokenFile,
    caFile,
    dir,
    requests,
    grants,
    rotateReaderToken() {
      readerToken = `reader-${randomUUID()}`;
      writeFileSync(tokenFile, `${readerToken}\n`);
      return readerToken;
    },
    async issue(sa, o = {}) {
      const now = Math.floor(Date.now() / 1000) + (o.shift ?? 0);
      const bound = o.boundTo ?? 'pod';
      const pod = bound === 'pod' ? { name: `${sa.name}-7d9f8b6c5-${randomUUID().slice(0, 5)}`, uid: randomUUID() } : undefined;
      const kubernetes: Record<string, unknown> = { namespace: sa.namespace };
      if (pod) kubernetes.node = { name: 'kind-worker', uid: '7b0c3e8a-6a3f-4c6e-9e0e-2f0f4f5a1b2c' };
      if (pod) kubernetes.pod = pod;
      if (bound === 'secret') kubernetes.secret = { name: `${sa.name}-token`, uid: randomUUID() };
      kubernetes.serviceaccount = { name: sa.name, uid: sa.uid };
      if (o.warnAfterSeconds !== undefined) kubernetes.warnafter = now + o.warnAfterSeconds;
      // Key order as Kubernetes serializes them (go-jose sorts the merged claim map).
      const payload: Record<string, unknown> = {
        aud: o.audiences ?? ['authjwt'],
        exp: now + (o.expirationSeconds ?? 3600),
        iat: now,
        iss: issuer,
        jti: randomUUID(),
        'kubernetes.io': kubernetes,
        nbf: now,
        sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
      };
      o.mutate?.(payload);
      const key = keyOf(o.kid);
      const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: 'RS256', kid: key.kid })
        .sign(key.privateKey);
      return { token, payload, pod };
    },
    async rotate() {
      const key = await newKey();
      keys.push(key);
      signing = key;
      return key.kid;
    },
    async rogueKid() {
      const key = await newKey();
      rogue.push(key);
      return key.kid;
    },
    jwks,
    deleteBoundObject(uid) {
      deleted.add(uid);
    },
    setDown(value) {
      down = value;
      // Open keep-alive connections go down with it.
      if (value) server.closeAllConnections();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
