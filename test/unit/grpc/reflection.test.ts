/**
 * Reflection descriptors as strict clients (protobuf-go: grpcurl, grpc-health-probe's libraries)
 * require them: protoc's map-entry names. The grpcurl calls themselves are in test/interop.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { loadHealthPackage } from '../../../src/grpc/proto.ts';
import { mapEntryName, withMapEntryNames } from '../../../src/grpc/reflection.ts';

it('mapEntryName follows protoc: statuses → StatusesEntry, foo_bar_baz → FooBarBazEntry', () => {
  assert.deepEqual(['statuses', 'foo_bar_baz', 'x', 'already_Camel'].map(mapEntryName), [
    'StatusesEntry',
    'FooBarBazEntry',
    'XEntry',
    'AlreadyCamelEntry',
  ]);
});

it('withMapEntryNames renames protobufjs map entries (HealthListResponse.statuses) and their field references', () => {
  const decode = (pkg: ReturnType<typeof loadHealthPackage>) => {
    const bin = (pkg['grpc.health.v1.HealthListResponse'] as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos[0]!;
    const file = descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(bin)) as {
      messageType: { name: string; field?: { name: string; typeName?: string }[]; nestedType?: { name: string }[] }[];
    };
    const message = file.messageType.find((m) => m.name === 'HealthListResponse')!;
    return { nested: message.nestedType!.map((n) => n.name), typeName: message.field!.find((f) => f.name === 'statuses')!.typeName };
  };
  const raw = loadHealthPackage();
  // What protobufjs produces (the reason for the fix): if this changes upstream, the fix may go.
  assert.deepEqual(decode(raw), { nested: ['Statuses'], typeName: 'Statuses' });
  assert.deepEqual(decode(withMapEntryNames(raw)), { nested: ['StatusesEntry'], typeName: 'StatusesEntry' });
});
