/**
 * The gRPC load generator of the benches (test/bench/run.ts, test/bench/txn-tokens.ts): ghz, run in its
 * own process, and the two methods they drive. One place for its command line and its JSON report.
 */
import { spawn } from 'node:child_process';
import { AUTH_PROTO_PATH, ENVOY_PROTO_INCLUDE_DIRS } from '../../src/grpc/proto.ts';

/** `go install` module of ghz; installed into <bin>/ghz-<version>/ so a version bump never reuses an older binary. */
export const GHZ_MODULE = 'github.com/bojand/ghz/cmd/ghz@v0.121.0';

/** A gRPC method ghz calls: its proto (with include directories) and full method name. */
export interface GrpcCall {
  proto: string;
  importPaths?: readonly string[];
  call: string;
}

export const GETJWT_CALL: GrpcCall = { proto: AUTH_PROTO_PATH, call: 'auth.v1alpha1.AuthAPI.GetJWT' };
/** Envoy's ext_authz Check, with Envoy's protos from @grpc/grpc-js-xds. */
export const EXT_AUTHZ_CHECK_CALL: GrpcCall = {
  proto: 'envoy/service/auth/v3/external_auth.proto',
  importPaths: ENVOY_PROTO_INCLUDE_DIRS,
  call: 'envoy.service.auth.v3.Authorization.Check',
};

/** Runs a tool to completion; its stdout, or a rejection naming the exit code (stderr passes through). */
export function runTool(file: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${file} exited ${code}`))));
  });
}

export interface GhzResult {
  rps: number;
  /** ms */
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  count: number;
  /** Calls by gRPC status name other than OK. */
  errorKinds: Record<string, number>;
}

/**
 * One ghz run against 127.0.0.1:`port`: `concurrency` calls over 4 connections, ghz limited to one CPU,
 * `total` calls (every call completes) or `duration` seconds (the calls in flight at the end are
 * cancelled), optionally paced at `rps`.
 */
export async function ghz(
  bin: string,
  port: number,
  target: GrpcCall,
  dataFile: string,
  options: { concurrency: number; duration?: number | undefined; total?: number | undefined; rps?: number | undefined },
): Promise<GhzResult> {
  const argv = [
    '--insecure',
    '--proto',
    target.proto,
    ...(target.importPaths ? ['--import-paths', target.importPaths.join(',')] : []),
    '--call',
    target.call,
    '-D',
    dataFile,
    '-c',
    String(options.concurrency),
    '--connections',
    '4',
    '--cpus',
    '1',
    '--timeout',
    '10s',
    '-O',
    'json',
    ...(options.total ? ['-n', String(options.total)] : ['-z', `${options.duration}s`]),
  ];
  if (options.rps) argv.push('-r', String(options.rps));
  argv.push(`127.0.0.1:${port}`);
  const out = JSON.parse(await runTool(bin, argv)) as {
    rps: number;
    count: number;
    statusCodeDistribution: Record<string, number> | null;
    latencyDistribution: { percentage: number; latency: number }[] | null;
  };
  const pct = (p: number) => (out.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? NaN) / 1e6;
  const errorKinds = Object.fromEntries(Object.entries(out.statusCodeDistribution ?? {}).filter(([k]) => k !== 'OK'));
  const errors = Object.values(errorKinds).reduce((n, v) => n + v, 0);
  return { rps: out.rps, p50: pct(50), p95: pct(95), p99: pct(99), errors, count: out.count, errorKinds };
}
