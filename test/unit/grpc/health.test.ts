import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { HealthService } from '../../../src/grpc/health.ts';
import { check, healthClient, type HealthClient, watchFirst } from '../../helpers/health-client.ts';

describe('HealthService: one status for every served name', () => {
  const health = new HealthService(['', 'auth.v1alpha1.AuthAPI']);
  const server = new Server();
  let client: HealthClient;

  before(async () => {
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = healthClient(port);
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  const list = (): Promise<Record<string, string>> =>
    new Promise((resolve, reject) =>
      client.List({}, (e: ServiceError | null, r: { statuses: Record<string, { status: string }> }) =>
        e ? reject(e) : resolve(Object.fromEntries(Object.entries(r.statuses).map(([name, s]) => [name, s.status]))),
      ),
    );

  it('starts NOT_SERVING; Check of an unknown name is NOT_FOUND; List names only the served names', async () => {
    assert.equal(await check(client, ''), 'NOT_SERVING');
    assert.equal(await check(client, 'auth.v1alpha1.AuthAPI'), 'NOT_SERVING');
    assert.equal(await check(client, 'other'), 'NOT_FOUND');
    assert.deepEqual(await list(), { '': 'NOT_SERVING', 'auth.v1alpha1.AuthAPI': 'NOT_SERVING' });
  });

  it('setServing reaches Check, List and every open Watch once per change; close ends the streams', async () => {
    const { first, call } = await watchFirst(client, 'auth.v1alpha1.AuthAPI', false);
    assert.equal(first, 'NOT_SERVING');
    const seen: string[] = [];
    call.on('data', (r: { status: string }) => seen.push(r.status));
    const ended = new Promise((resolve) => call.once('end', resolve));
    health.setServing(true);
    health.setServing(true); // no change: no message
    assert.equal(await check(client, ''), 'SERVING');
    assert.deepEqual(await list(), { '': 'SERVING', 'auth.v1alpha1.AuthAPI': 'SERVING' });
    health.setServing(false);
    assert.equal(await check(client, 'auth.v1alpha1.AuthAPI'), 'NOT_SERVING');
    health.close();
    await ended;
    assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
  });

  it('Watch of an unknown name answers SERVICE_UNKNOWN', async () => {
    assert.equal((await watchFirst(client, 'other')).first, 'SERVICE_UNKNOWN');
  });
});
