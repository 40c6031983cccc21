import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from '../generated/auth.ts';

/** Path of the public API definition (shipped with the package). */
export const AUTH_PROTO_PATH = fileURLToPath(new URL('../../proto/auth/v1alpha1/auth.proto', import.meta.url));

/** Loader options must match those used by `npm run gen:types` (camelCase fields, defaults on). */
export const PROTO_LOADER_OPTIONS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true } as const;

export function loadAuthProto(): ProtoGrpcType {
  return loadPackageDefinition(loadSync(AUTH_PROTO_PATH, PROTO_LOADER_OPTIONS)) as unknown as ProtoGrpcType;
}

export const AUTH_SERVICE_NAME = 'auth.v1alpha1.AuthAPI';
