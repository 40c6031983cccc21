/**
 * Tracing end to end: authjwt runs as a process with the tracing preload and standard OTEL_* env,
 * exporting OTLP/HTTP (JSON encoding) to a receiver in this test. One GetJWT with a W3C traceparent
 * must yield: a SERVER span continuing the caller's trace, child spans for verification (with the
 * provider's HTTP call under it) and signing; attributes without tokens; log lines with trace_id.
 */
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AuthAPIClient } from '../../src/generated/auth/v1alpha1/AuthAPI.ts';
import { loadAuthProto } from '../../src/grpc/proto.ts';
import { freePort } from '../helpers/net.ts';
import { INTROSPECTION_CLIENT, startOidcProvider, USERS } from '../helpers/oidc.ts';
import { waitFor } from '../helpers/wait-for.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

it('GetJWT produces a span tree under the caller trace; logs carry trace_id', async () => {
  const spans: OtlpSpan[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const data = JSON.parse(body) as { resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of data.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        receiverResources.push(JSON.stringify(data.resourceSpans.map((r) => r.resource)));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const receiverResources: string[] = [];
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const op = await startOidcProvider();
  const dir = mkdtempSync(join(tmpdir(), 'authjwt-trace-'));
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'config.yaml'),
    `issuer: http://127.0.0.1:${httpPort}
audience: [internal-services]
grpc: { listen: "127.0.0.1:${grpcPort}" }
http: { listen: "127.0.0.1:${httpPort}" }
keys: { ephemeral: true }
logging: { level: debug }
providers:
  - { id: op, type: oidc, issuer: "${op.issuer}", audiences: [frontend], verification: introspection, clientId: ${INTROSPECTION_CLIENT.id}, clientSecret: ${INTROSPECTION_CLIENT.secret}, allow: "claims.active == true" }
  - { id: op-closed, type: oidc, issuer: "${op.issuer}", audiences: [frontend], verification: introspection, clientId: ${INTROSPECTION_CLIENT.id}, clientSecret: ${INTROSPECTION_CLIENT.secret}, allow: [{ name: nobody, expression: "account.id == 'nobody'" }] }
`,
  );
  const child = spawn(process.execPath, ['--import', './src/telemetry/tracing.ts', 'src/main.ts', '--config', join(dir, 'config.yaml')], {
    cwd: root,
    env: {
      ...process.env,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stdout += c));
  const client = new (loadAuthProto().auth.v1alpha1.AuthAPI)(`127.0.0.1:${grpcPort}`, credentials.createInsecure()) as AuthAPIClient;
  try {
    const token = await op.opaqueToken(USERS.alice!);
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const md = new Metadata();
    md.set('traceparent', `00-${traceId}-${parentId}-01`);
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 15_000, (e) => (e ? reject(e) : resolve())));
    const minted = await new Promise<string>((resolve, reject) =>
      client.GetJWT(
        { account: { provider: 'op', type: 'oidc', providerAccountId: USERS.alice!.sub, accessToken: token } },
        md,
        (e: ServiceError | null, r) => (e ? reject(e) : resolve(r!.token!)),
      ),
    );
    await waitFor(() => spans.some((s) => s.name === 'authjwt.sign') && spans.some((s) => s.kind === 2), {
      what: 'the sign and server spans',
      timeout: 10_000,
      interval: 100,
    });
    const inTrace = spans.filter((s) => s.traceId === traceId);
    const server = inTrace.find((s) => s.kind === 2 && s.name === 'auth.v1alpha1.AuthAPI/GetJWT');
    assert.ok(server, `server span in the caller's trace; got ${inTrace.map((s) => s.name)}`);
    assert.equal(server.parentSpanId, parentId, 'continues the incoming W3C trace context');
    assert.equal(attr(server, 'rpc.system'), 'grpc');
    assert.equal(attr(server, 'authjwt.provider'), 'op');
    assert.equal(attr(server, 'authjwt.outcome'), 'ok');
    const verify = inTrace.find((s) => s.name === 'authjwt.verify');
    assert.ok(verify && verify.parentSpanId === server.spanId, 'verify span under the server span');
    assert.equal(attr(verify, 'authjwt.strategy'), 'introspection');
    const http = inTrace.find((s) => s.kind === 3 && s.parentSpanId === verify.spanId);
    assert.ok(http, `provider HTTP call span under verify; got ${inTrace.map((s) => `${s.name}/${s.kind}`)}`);
    assert.match(String(attr(http, 'url.full')), /\/token\/introspection$/);
    const policy = inTrace.find((s) => s.name === 'authjwt.policy');
    assert.ok(policy && policy.parentSpanId === server.spanId, 'policy span under the server span');
    assert.equal(attr(policy, 'authjwt.policy.allowed'), true);
    assert.equal(attr(policy, 'authjwt.provider'), 'op');
    const sign = inTrace.find((s) => s.name === 'authjwt.sign');
    assert.ok(sign && sign.parentSpanId === server.spanId, 'sign span under the server span');
    assert.match(receiverResources.join(''), /"service.name".*"authjwt"/);
    const everything = JSON.stringify(spans);
    assert.ok(
      !everything.includes(token) && !everything.includes(minted) && !everything.includes(INTROSPECTION_CLIENT.secret),
      'no token or secret in spans',
    );
    // A denial: the decision and the rule on the policy span and the server span, no value from the identity.
    const deniedTrace = randomBytes(16).toString('hex');
    const md2 = new Metadata();
    md2.set('traceparent', `00-${deniedTrace}-${randomBytes(8).toString('hex')}-01`);
    const code = await new Promise<number>((resolve) =>
      client.GetJWT(
        { account: { provider: 'op-closed', type: 'oidc', providerAccountId: USERS.alice!.sub, accessToken: token } },
        md2,
        (e: ServiceError | null) => resolve(e ? e.code : 0),
      ),
    );
    assert.equal(code, 7, 'PERMISSION_DENIED');
    await waitFor(() => spans.some((s) => s.traceId === deniedTrace && s.kind === 2), {
      what: 'the denied call spans',
      timeout: 10_000,
      interval: 100,
    });
    const denied = spans.find((s) => s.traceId === deniedTrace && s.name === 'authjwt.policy');
    assert.ok(denied, 'policy span of the denied call');
    assert.equal(attr(denied, 'authjwt.policy.allowed'), false);
    assert.equal(attr(denied, 'authjwt.policy.rule'), 'nobody');
    assert.equal(attr(denied, 'authjwt.policy.reason'), 'denied');
    const deniedServer = spans.find((s) => s.traceId === deniedTrace && s.kind === 2)!;
    assert.equal(attr(deniedServer, 'authjwt.outcome'), 'permission_denied');
    assert.equal(attr(deniedServer, 'authjwt.policy.rule'), 'nobody');
    assert.ok(!JSON.stringify(spans).includes(USERS.alice!.sub), 'no account id in spans');
    const logLine = stdout.split('\n').find((l) => l.includes('"msg":"GetJWT"'));
    assert.ok(logLine?.includes(`"trace_id":"${traceId}"`), `log line carries trace_id: ${logLine}`);
  } finally {
    client.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    receiver.close();
    await op.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
