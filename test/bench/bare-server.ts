/**
 * The floor for GetJWT: a bare grpc-js server with the same proto whose handler only signs a JWT
 * (same claims, same key, same signing function as authjwt) — no validation, no provider, no cache, no
 * metrics. authjwt's overhead is measured against this.
 * Usage: node test/bench/bare-server.ts --port P --key FILE.pem --issuer URL
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseKeyFile } from '../../src/keys/key-file.ts';
import { signCompactJwt } from '../../src/keys/jwt-signer.ts';
import { loadAuthProto } from '../../src/grpc/proto.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, key: { type: 'string' }, issuer: { type: 'string' } } });
const [key] = await parseKeyFile('bench', readFileSync(values.key!, 'utf8'));
const proto = loadAuthProto();
// Channelz off, as in authjwt: per-call bookkeeping nobody reads.
const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024, 'grpc.enable_channelz': 0 });
server.addService(proto.auth.v1alpha1.AuthAPI.service, {
  GetJWT(call: any, callback: any) {
    const a = call.request.account;
    const now = Math.floor(Date.now() / 1000);
    signCompactJwt(
      key!,
      { kid: key!.kid, typ: 'JWT' },
      {
        iss: values.issuer,
        aud: 'internal-services',
        sub: `${a.provider}:${a.providerAccountId}`,
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: randomUUID(),
        provider: a.provider,
      },
    ).then(
      (token) => callback(null, { token }),
      (e) => callback(e),
    );
  },
});
server.bindAsync(`127.0.0.1:${values.port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  console.log('bare server ready');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
