/** A grpc.health.v1 client for tests: Check, Watch (first message) and unique-name Watch churn. */
import { credentials, loadPackageDefinition, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

const healthProto = loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true })) as any;
const codeName = (c: number) => status[c] ?? String(c);

/** The generated client (untyped: loaded at run time from grpc-health-check's proto). */
export type HealthClient = any;

export function healthClient(port: number): HealthClient {
  return new healthProto.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** Check: the status, or the error's code name (e.g. NOT_FOUND). */
export function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve) =>
    client.Check({ service }, (e: ServiceError | null, r: { status: string }) => resolve(e ? codeName(e.code) : r.status)),
  );
}

/** Opens a Watch; resolves with its first message's status, or the error's code name. Cancels it unless `cancel` is false. */
export function watchFirst(client: HealthClient, service: string, cancel = true): Promise<{ first: string; call: any }> {
  return new Promise((resolve) => {
    const call = client.Watch({ service });
    call.once('data', (r: { status: string }) => {
      if (cancel) call.cancel();
      resolve({ first: r.status, call });
    });
    call.on('error', (e: ServiceError) => resolve({ first: codeName(e.code), call }));
  });
}

/**
 * Opens and cancels Watch calls from `concurrency` loops until `n` of them were answered by the
 * server (a first message), `keepGoing` turns false, or 1.5 n attempts were made (connections the
 * server resets under this churn are retried by the channel). Returns the tally of first messages / errors.
 */
export async function churnWatch(
  client: HealthClient,
  n: number,
  name: (i: number) => string,
  options: { concurrency?: number; keepGoing?: () => boolean } = {},
): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  let answered = 0;
  let i = 0;
  const keepGoing = options.keepGoing ?? (() => true);
  await Promise.all(
    Array.from({ length: options.concurrency ?? 64 }, async () => {
      while (answered < n && i < n * 1.5 && keepGoing()) {
        const { first } = await watchFirst(client, name(i++));
        tally[first] = (tally[first] ?? 0) + 1;
        if (first === 'SERVING' || first === 'SERVICE_UNKNOWN' || first === 'NOT_SERVING') answered++;
      }
    }),
  );
  return tally;
}
