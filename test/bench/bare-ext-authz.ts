/**
 * The floor for the gRPC ext_authz door: a bare grpc-js server with Envoy's Authorization service (the
 * same protos and server options as authjwt) whose Check answers OK with one constant header — no
 * exchange, no cache, no admission, no metrics. Behind real Envoy it shows what the gRPC transport
 * itself costs per request, beside authjwt's Check (test/bench/run.ts, the real-Envoy rows).
 * Usage: node test/bench/bare-ext-authz.ts --port P --token JWT   (answers `authorization: Bearer JWT`)
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { extAuthzService } from '../../src/grpc/ext-authz.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, token: { type: 'string' } } });
const { definition } = extAuthzService();
const answer = {
  status: { code: 0, message: '' },
  okResponse: {
    headers: [{ header: { key: 'authorization', value: `Bearer ${values.token}` }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    headersToRemove: [],
  },
};
// Channelz off, as in authjwt.
const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024, 'grpc.enable_channelz': 0 });
server.addService(definition, {
  Check(_call: unknown, callback: (error: null, response: typeof answer) => void) {
    callback(null, answer);
  },
});
server.bindAsync(`127.0.0.1:${values.port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  console.error('bare ext_authz server ready');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
