import {
  loadPackageDefinition,
  status as GrpcStatus,
  type sendUnaryData,
  type Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { loadHealthPackage } from './proto.ts';

type ServingStatus = 'SERVING' | 'NOT_SERVING';
type HealthRequest = { service?: string };
type HealthResponse = { status: ServingStatus | 'SERVICE_UNKNOWN' };

/**
 * `grpc.health.v1.Health` for a fixed set of service names (https://github.com/grpc/grpc/blob/master/doc/health-checking.md).
 * Only the served names hold state: Check of an unknown name is NOT_FOUND; Watch of an unknown name
 * gets SERVICE_UNKNOWN and stays open as the protocol asks, registered nowhere, so it is freed with
 * the call (an earlier library kept an entry per requested name forever: unauthenticated callers
 * could exhaust the heap). Watch streams count against admission like any call.
 */
export class HealthService {
  /** Every served name has the same status: the service's. */
  #status: ServingStatus = 'NOT_SERVING';
  /** Watch streams per served name (the keys are the served names). */
  readonly #watchers = new Map<string, Set<ServerWritableStream<HealthRequest, HealthResponse>>>();

  constructor(services: readonly string[]) {
    for (const name of services) this.#watchers.set(name, new Set());
  }

  /** Marks every served name SERVING or NOT_SERVING and tells their watchers. */
  setServing(serving: boolean): void {
    const next: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    if (next === this.#status) return;
    this.#status = next;
    const update = { status: next };
    for (const watchers of this.#watchers.values()) for (const call of watchers) call.write(update);
  }

  addToServer(server: Server): void {
    const definition = (
      loadPackageDefinition(loadHealthPackage()) as unknown as { grpc: { health: { v1: { Health: { service: ServiceDefinition } } } } }
    ).grpc.health.v1.Health.service;
    server.addService(definition, {
      Check: (call: ServerUnaryCall<HealthRequest, HealthResponse>, callback: sendUnaryData<HealthResponse>) => {
        if (!this.#watchers.has(call.request.service ?? '')) callback({ code: GrpcStatus.NOT_FOUND, details: 'unknown service' });
        else callback(null, { status: this.#status });
      },
      Watch: (call: ServerWritableStream<HealthRequest, HealthResponse>) => {
        const name = call.request.service ?? '';
        const watchers = this.#watchers.get(name);
        if (!watchers) {
          call.write({ status: 'SERVICE_UNKNOWN' });
          return;
        }
        watchers.add(call);
        call.once('cancelled', () => watchers.delete(call));
        call.write({ status: this.#status });
      },
      List: (
        _call: ServerUnaryCall<unknown, unknown>,
        callback: sendUnaryData<{ statuses: Record<string, { status: ServingStatus }> }>,
      ) => {
        const status = { status: this.#status };
        callback(null, { statuses: Object.fromEntries([...this.#watchers.keys()].map((name) => [name, status])) });
      },
    });
  }

  /** Ends every Watch stream (shutdown). */
  close(): void {
    for (const watchers of this.#watchers.values()) {
      for (const call of watchers) call.end();
      watchers.clear();
    }
  }
}
