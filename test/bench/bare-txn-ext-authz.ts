/**
 * The sign-only floor of Txn-Tokens at the edge (issue 22): a bare grpc-js server with Envoy's
 * Authorization service whose Check signs the claims of a Txn-Token (the same members authjwt sets,
 * `typ: txntoken+jwt`, the same ES256 key and the same signing function as authjwt) for every call and
 * answers OK with it in `txn-token` — no token verification, no policy, no admission, no metrics.
 * test/bench/txn-tokens.ts measures authjwt's mint mode against it.
 * Usage: node test/bench/bare-txn-ext-authz.ts --port P --key FILE.pem --trust-domain D
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { extAuthzService } from '../../src/grpc/ext-authz.ts';
import { parseKeyFile } from '../../src/keys/key-file.ts';
import { signCompactJwt } from '../../src/keys/jwt-signer.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, key: { type: 'string' }, 'trust-domain': { type: 'string' } } });
const [key] = await parseKeyFile('bench', readFileSync(values.key!, 'utf8'));
const { definition } = extAuthzService();
const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024, 'grpc.enable_channelz': 0 });
server.addService(definition, {
  Check(_call: unknown, callback: (error: Error | null, response?: unknown) => void) {
    const now = Math.floor(Date.now() / 1000);
    signCompactJwt(
      key!,
      { kid: key!.kid, typ: 'txntoken+jwt' },
      {
        iss: 'https://authjwt.bench',
        aud: values['trust-domain'],
        iat: now,
        exp: now + 60,
        txn: randomUUID(),
        sub: 'op-jwt:alice-7d1c',
        scope: 'api',
        req_wl: 'api-gateway',
        tctx: { idp: 'op-jwt' },
        rctx: { req_ip: '127.0.0.1' },
        jti: randomUUID(),
      },
    ).then(
      (token) =>
        callback(null, {
          status: { code: 0, message: '' },
          okResponse: {
            headers: [{ header: { key: 'txn-token', value: token }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
            headersToRemove: ['authorization'],
          },
        }),
      (e: Error) => callback(e),
    );
  },
});
server.bindAsync(`127.0.0.1:${values.port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  console.error('bare Txn-Token ext_authz server ready');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
