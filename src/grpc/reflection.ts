import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import protobuf from 'protobufjs';
import descriptor, { type IDescriptorProto, type IFileDescriptorProto, type IFileDescriptorSet } from 'protobufjs/ext/descriptor/index.js';
import { AUTH_PROTO_PATH, loadGoogleRpcRoot, loadHealthPackage, PROTO_LOADER_OPTIONS } from './proto.ts';

/**
 * gRPC server reflection (grpcurl list/describe, Postman, grpcui) over the AuthAPI and health
 * services, plus google.rpc.ErrorInfo so that reflection clients decode the rich error details
 * (`grpc-status-details-bin`) instead of showing raw bytes.
 */
export function createReflectionService(): ReflectionService {
  // keepCase: the descriptors must name fields as proto/ does (provider_account_id); the server's own
  // camelCase loading is an in-process convenience only.
  const auth = loadSync(AUTH_PROTO_PATH, { ...PROTO_LOADER_OPTIONS, keepCase: true });
  return new ReflectionService(withMapEntryNames({ ...auth, ...loadHealthPackage(), ...errorInfoPackage() }));
}

const FileDescriptorProto = descriptor.FileDescriptorProto;

/**
 * google.rpc.ErrorInfo alone, taken from googleapis' error_details.proto, in a file of its own:
 * protobufjs writes descriptors without `dependency` entries, so the whole error_details.proto (which
 * refers to google.protobuf.Duration) would not resolve in strict clients. ErrorInfo refers to no
 * other file. (grpcurl decodes google.rpc.Status itself; it needs only the detail types.)
 */
function errorInfoPackage(): PackageDefinition {
  const errorInfo = loadGoogleRpcRoot().lookupType('google.rpc.ErrorInfo');
  const root = protobuf.Root.fromJSON({ nested: { google: { nested: { rpc: { nested: { ErrorInfo: errorInfo.toJSON() } } } } } });
  const set = (root as unknown as { toDescriptor(syntax: string): IFileDescriptorSet }).toDescriptor('proto3');
  const file = { ...set.file[0]!, name: 'google/rpc/error_info.proto' };
  const bin = Buffer.from(FileDescriptorProto.encode(FileDescriptorProto.fromObject(file)).finish());
  // Reflection reads only `fileDescriptorProtos`; nothing serializes with this entry.
  return { 'google.rpc.ErrorInfo': { fileDescriptorProtos: [bin] } as unknown as PackageDefinition[string] };
}

/**
 * protobufjs names the synthetic message of a map field after the field (`Statuses`), where protoc
 * and every strict runtime expect `<CamelField>Entry` (`StatusesEntry`). protobuf-go rejects the
 * former ("invalid map: incorrect implicit map entry name", fullstorydev/grpcurl#519), so grpcurl
 * could not describe or call grpc.health.v1.Health (its HealthListResponse has a map). The
 * descriptors served by reflection are rewritten with the protoc names; the wire format is unchanged.
 */
export function withMapEntryNames(definition: PackageDefinition): PackageDefinition {
  const fixed = new Map<Buffer, Buffer>();
  const fix = (bin: Buffer): Buffer => {
    let out = fixed.get(bin);
    if (!out) {
      const file = FileDescriptorProto.toObject(FileDescriptorProto.decode(bin)) as IFileDescriptorProto;
      const changed = (file.messageType ?? []).map((m) => renameMapEntries(m)).some(Boolean);
      out = changed ? Buffer.from(FileDescriptorProto.encode(FileDescriptorProto.fromObject(file)).finish()) : bin;
      fixed.set(bin, out);
    }
    return out;
  };
  const result: PackageDefinition = {};
  for (const [name, entry] of Object.entries(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    result[name] = Array.isArray(protos) ? ({ ...entry, fileDescriptorProtos: protos.map(fix) } as typeof entry) : entry;
  }
  return result;
}

/** Renames the map-entry types of `message` (and of its nested types); true when something changed. */
function renameMapEntries(message: IDescriptorProto): boolean {
  let changed = false;
  for (const nested of message.nestedType ?? []) if (renameMapEntries(nested)) changed = true;
  for (const nested of message.nestedType ?? []) {
    if (!nested.options?.mapEntry) continue;
    const field = (message.field ?? []).find((f) => f.typeName === nested.name || f.typeName?.endsWith(`.${nested.name}`));
    if (!field?.name) continue;
    const expected = mapEntryName(field.name);
    if (nested.name === expected) continue;
    field.typeName = field.typeName!.slice(0, field.typeName!.length - nested.name!.length) + expected;
    nested.name = expected;
    changed = true;
  }
  return changed;
}

/** protoc's rule (and protobuf-go's strs.MapEntryName): `foo_bar` → `FooBarEntry`. */
export function mapEntryName(field: string): string {
  let out = '';
  let upper = true;
  for (const c of field) {
    if (c === '_') upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return `${out}Entry`;
}
