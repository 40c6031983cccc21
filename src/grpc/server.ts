import {
  Server,
  ServerCredentials,
  type ServerInterceptor,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Config } from '../config/types.ts';

export interface GrpcService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface GrpcServerHandle {
  server: Server;
  /** Bound port (useful with port 0). */
  port: number;
  /** Graceful stop: no new calls, wait for in-flight ones; forces after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

export interface GrpcServerOptions {
  credentials?: ServerCredentials | undefined;
  /** Server interceptors applied to every service, in order (the last one is closest to the handlers). */
  interceptors?: ServerInterceptor[] | undefined;
  /** Services that register themselves (health, reflection). */
  register?: ((server: Server) => void)[] | undefined;
}

/** Creates and binds the gRPC server with the transport limits from config. */
export async function startGrpcServer(
  config: Config['grpc'],
  services: readonly GrpcService[],
  options: GrpcServerOptions = {},
): Promise<GrpcServerHandle> {
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
  for (const service of services) server.addService(service.definition, service.implementation);
  for (const register of options.register ?? []) register(server);
  const credentials = options.credentials ?? ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    port,
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
