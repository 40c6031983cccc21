import { Server, ServerCredentials, type ServerInterceptor, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Config } from '../config/load.ts';
import { AUTH_SERVICE_NAME, loadAuthProto } from './proto.ts';
import type { AuthApi } from './auth-api.ts';

export interface GrpcServerHandle {
  server: Server;
  health: HealthImplementation;
  /** Bound port (useful with port 0). */
  port: number;
  /** Marks every served service SERVING or NOT_SERVING. */
  setServing(serving: boolean): void;
  /** Graceful stop: no new calls, wait for in-flight ones; forces after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

export interface GrpcServerOptions {
  credentials?: ServerCredentials;
  /** Server interceptors (metrics) applied to every service, health included. */
  interceptors?: ServerInterceptor[];
  /** Wrap the service (metrics/tracing interceptors live outside the handler). */
  wrapService?: (definition: ServiceDefinition, handlers: UntypedServiceImplementation) => UntypedServiceImplementation;
}

/** Creates and binds the gRPC server hosting AuthAPI and grpc.health.v1.Health. */
export async function startGrpcServer(config: Config['grpc'], api: AuthApi, options: GrpcServerOptions = {}): Promise<GrpcServerHandle> {
  const proto = loadAuthProto();
  const server = new Server({
    'grpc.max_receive_message_length': config.maxReceiveMessageBytes,
    'grpc.max_send_message_length': 64 * 1024,
    'grpc.max_concurrent_streams': config.maxConcurrentStreams,
    'grpc.max_connection_age_ms': config.maxConnectionAge,
    'grpc.max_connection_age_grace_ms': config.maxConnectionAgeGrace,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.max_connection_idle_ms': config.maxConnectionIdle,
    // Bounds HTTP/2 session memory per connection (nghttp2 also limits outstanding pings/settings).
    'grpc-node.max_session_memory': 10,
    // Channelz keeps per-call and per-socket statistics nobody reads here; measurable per call.
    'grpc.enable_channelz': 0,
    interceptors: options.interceptors ?? [],
  });
  const definition = proto.auth.v1alpha1.AuthAPI.service;
  const handlers = options.wrapService ? options.wrapService(definition, api.handlers as unknown as UntypedServiceImplementation) : (api.handlers as unknown as UntypedServiceImplementation);
  server.addService(definition, handlers);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [AUTH_SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  const credentials = options.credentials ?? ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(config.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))));
  return {
    server,
    health,
    port,
    setServing(serving) {
      const s = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', s);
      health.setStatus(AUTH_SERVICE_NAME, s);
    },
    stop(graceMs) {
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
