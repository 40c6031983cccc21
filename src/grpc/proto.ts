import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { ProtoGrpcType } from '../generated/auth.ts';

/** Path of the public API definition (shipped with the package). */
export const AUTH_PROTO_PATH = fileURLToPath(new URL('../../proto/auth/v1alpha1/auth.proto', import.meta.url));

/**
 * Third-party protos come from their packages, never copied here: the gRPC health service from
 * grpc-health-check, and Envoy's data-plane API with googleapis, xds, udpa and validate from
 * @grpc/grpc-js-xds (grpc-node's own xDS package ships them under deps/).
 */
const require = createRequire(import.meta.url);
const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds')), '..', '..', 'deps');
export const GOOGLE_APIS_PROTO_DIR = join(XDS_DEPS, 'googleapis');
export const HEALTH_PROTO_PATH = join(dirname(require.resolve('grpc-health-check')), '..', '..', 'proto', 'health', 'v1', 'health.proto');
export const ENVOY_PROTO_INCLUDE_DIRS = ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((d) => join(XDS_DEPS, d));

/** Loader options must match those used by `npm run gen:types` (camelCase fields, defaults on). */
export const PROTO_LOADER_OPTIONS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true } as const;

export const AUTH_SERVICE_NAME = 'auth.v1alpha1.AuthAPI';
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

function loadAuthPackage(): PackageDefinition {
  return loadSync(AUTH_PROTO_PATH, PROTO_LOADER_OPTIONS);
}

export function loadAuthProto(): ProtoGrpcType {
  return loadPackageDefinition(loadAuthPackage()) as unknown as ProtoGrpcType;
}

let healthPackage: PackageDefinition | undefined;

/** The health service's definition, parsed once (the service and reflection both serve it). */
export function loadHealthPackage(): PackageDefinition {
  healthPackage ??= loadSync(HEALTH_PROTO_PATH, { ...PROTO_LOADER_OPTIONS, keepCase: true });
  return healthPackage;
}

let googleRpc: protobuf.Root | undefined;

/**
 * googleapis' `google/rpc/status.proto` and `error_details.proto` (field names as in the protos),
 * parsed once: the status encoder (status.ts) and reflection (ErrorInfo) both read them.
 */
export function loadGoogleRpcRoot(): protobuf.Root {
  if (!googleRpc) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : `${GOOGLE_APIS_PROTO_DIR}/${target}`);
    googleRpc = root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  }
  return googleRpc;
}

// ---- Envoy ext_authz (issue 12) ----
export const EXT_AUTHZ_SERVICE_NAME = 'envoy.service.auth.v3.Authorization';

/**
 * Envoy's `envoy/service/auth/v3/external_auth.proto` and its imports, from @grpc/grpc-js-xds (never copied here).
 * The server decodes without defaults: a CheckRequest is a deep message of which the adapter reads five
 * fields, and filling every unset field of it cost ~35 % of its decoding on the edge's hottest path
 * (the adapter reads each field with a fallback). A client that reads `status.code` 0 wants `defaults: true`.
 */
export function loadExtAuthzPackage(options: { defaults?: boolean } = {}): PackageDefinition {
  return loadSync('envoy/service/auth/v3/external_auth.proto', {
    ...PROTO_LOADER_OPTIONS,
    defaults: options.defaults ?? false,
    includeDirs: ENVOY_PROTO_INCLUDE_DIRS,
  });
}
