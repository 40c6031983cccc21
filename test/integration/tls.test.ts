/**
 * gRPC over TLS and mTLS with certificates generated here by openssl (never committed): a client
 * without a valid certificate cannot call GetJWT; a rotated server certificate is served to new
 * connections without restart while open connections keep working. HTTP over TLS too.
 */
import { credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuthAPIClient } from '../../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto } from '../../src/grpc/proto.ts';
import { startAuthJwt, type RunningAuthJwt } from '../helpers/authjwt.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { waitFor } from '../helpers/wait-for.ts';

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

function makeCa(dir: string, name: string) {
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
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-subj',
    `/CN=${name}`,
    '-days',
    '1',
  );
}
function makeCert(dir: string, ca: string, name: string, san: string) {
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
  openssl(
    dir,
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  );
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  );
}

describe('gRPC mTLS', () => {
  let dir: string;
  let gh: FakeGitHub;
  let svc: RunningAuthJwt;
  const read = (f: string) => readFileSync(join(dir, f));
  const proto = loadAuthProto();
  const account = { provider: 'github', type: 'oauth', providerAccountId: '1', accessToken: 'gho_tls' };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'authjwt-tls-'));
    makeCa(dir, 'ca');
    makeCa(dir, 'rogue-ca');
    makeCert(dir, 'ca', 'server', 'IP:127.0.0.1,DNS:localhost');
    makeCert(dir, 'ca', 'client', 'DNS:client.example');
    makeCert(dir, 'rogue-ca', 'rogue-client', 'DNS:rogue.example');
    gh = await startFakeGitHub();
    gh.issue('gho_tls', { id: 1, login: 'one', name: null, email: null }, 'app');
    svc = await startAuthJwt({
      grpc: {
        tls: {
          certFile: join(dir, 'server.crt'),
          keyFile: join(dir, 'server.key'),
          clientCaFile: join(dir, 'ca.crt'),
          reloadInterval: '200ms',
        },
      },
      http: { tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), reloadInterval: '200ms' } },
      providers: [{ id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user` }],
    });
  });
  after(async () => {
    await svc?.stop();
    await gh?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const clientWith = (creds: ChannelCredentials) =>
    new proto.auth.v1alpha1.AuthAPI(`127.0.0.1:${svc.app.grpcPort}`, creds) as AuthAPIClient;
  const call = (client: AuthAPIClient) =>
    new Promise<{ code: number; details?: string }>((resolve) =>
      client.GetJWT({ account }, new Metadata(), { deadline: Date.now() + 5_000 }, (e: ServiceError | null) =>
        resolve(e ? { code: e.code, details: e.details } : { code: status.OK }),
      ),
    );
  const mtls = (key = 'client', onCert?: (fingerprint: string) => void) =>
    credentials.createSsl(read('ca.crt'), read(`${key}.key`), read(`${key}.crt`), {
      checkServerIdentity: (_host, cert) => {
        onCert?.(cert.fingerprint256);
        return undefined;
      },
    });

  it('a client with a certificate from the configured CA can call GetJWT', async () => {
    const c = clientWith(mtls());
    assert.equal((await call(c)).code, status.OK);
    c.close();
  });

  for (const [name, creds] of [
    ['no client certificate', () => credentials.createSsl(read('ca.crt'))],
    ['a certificate from another CA', () => mtls('rogue-client')],
    ['plaintext', () => credentials.createInsecure()],
  ] as const) {
    it(`a client with ${name} cannot call GetJWT`, async () => {
      const c = clientWith(creds());
      const res = await call(c);
      c.close();
      assert.notEqual(res.code, status.OK);
      assert.equal(res.code, status.UNAVAILABLE, res.details);
    });
  }

  it('a rotated server certificate is picked up without restart; an open connection keeps working', async () => {
    let seen = '';
    const before = clientWith(mtls('client', (f) => (seen = f)));
    assert.equal((await call(before)).code, status.OK);
    const original = seen;
    assert.equal(original, new X509Certificate(read('server.crt')).fingerprint256);

    // Rotate like a Secret update: new key pair and certificate, files replaced atomically.
    makeCert(dir, 'ca', 'server-next', 'IP:127.0.0.1,DNS:localhost');
    renameSync(join(dir, 'server-next.key'), join(dir, 'server.key'));
    renameSync(join(dir, 'server-next.crt'), join(dir, 'server.crt'));
    const rotated = new X509Certificate(read('server.crt')).fingerprint256;
    assert.notEqual(rotated, original);

    const newConnectionGetsRotated = async () => {
      let fresh = '';
      const c = clientWith(mtls('client', (f) => (fresh = f)));
      assert.equal((await call(c)).code, status.OK);
      c.close();
      return fresh === rotated;
    };
    await waitFor(newConnectionGetsRotated, { what: 'new connections to get the rotated certificate', interval: 250 });
    assert.equal((await call(before)).code, status.OK, 'the connection opened before the rotation still works');
    before.close();

    // The HTTP port serves JWKS over TLS with the rotated certificate too (its own reload timer: poll).
    const httpsCert = () =>
      new Promise<string>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: svc.app.httpPort,
            path: '/.well-known/jwks.json',
            ca: read('ca.crt'),
            servername: 'localhost',
            agent: false,
          },
          (res) => {
            resolve((res.socket as import('node:tls').TLSSocket).getPeerX509Certificate()!.fingerprint256);
            res.resume();
          },
        );
        req.on('error', reject);
        req.end();
      });
    await waitFor(async () => (await httpsCert()) === rotated, {
      what: 'new HTTPS connections to get the rotated certificate',
      interval: 250,
    });
  });
});
