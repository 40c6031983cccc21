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
  readonly #status = new Map<string, ServingStatus>();
  readonly #watchers = new Map<string, Set<ServerWritableStream<HealthRequest, HealthResponse>>>();

  constructor(services: readonly string[]) {
    for (const name of services) {
      this.#status.set(name, 'NOT_SERVING');
      this.#watchers.set(name, new Set());
    }
  }

  /** Marks every served name SERVING or NOT_SERVING and tells their watchers. */
  setServing(serving: boolean): void {
    const next: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    for (const [name, current] of this.#status) {
      if (current === next) continue;
      this.#status.set(name, next);
      for (const call of this.#watchers.get(name)!) call.write({ status: next });
    }
  }

  addToServer(server: Server): void {
    const definition = (
      loadPackageDefinition(loadHealthPackage()) as unknown as { grpc: { health: { v1: { Health: { service: ServiceDefinition } } } } }
    ).grpc.health.v1.Health.service;
    server.addService(definition, {
      Check: (call: ServerUnaryCall<HealthRequest, HealthResponse>, callback: sendUnaryData<HealthResponse>) => {
        const current = this.#status.get(call.request.service ?? '');
        if (current === undefined) callback({ code: GrpcStatus.NOT_FOUND, details: 'unknown service' });
        else callback(null, { status: current });
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
        call.write({ status: this.#status.get(name)! });
      },
      List: (
        _call: ServerUnaryCall<unknown, unknown>,
        callback: sendUnaryData<{ statuses: Record<string, { status: ServingStatus }> }>,
      ) => {
        callback(null, { statuses: Object.fromEntries([...this.#status].map(([name, status]) => [name, { status }])) });
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
