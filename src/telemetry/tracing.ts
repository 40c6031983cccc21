/**
 * OpenTelemetry tracing, preloaded before any other module:
 *   node --import ./src/telemetry/tracing.ts src/main.ts
 * Off unless enabled through the standard environment: OTEL_TRACES_EXPORTER (not "none") or an OTLP
 * endpoint (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true
 * wins. Exporter, protocol, sampler and resource come from the usual OTEL_* variables; the service
 * name defaults to "authjwt". When off, nothing but this check is loaded.
 */
import { TRACING_SHUTDOWN } from './tracing-state.ts';

export function isTracingEnabled(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (exporters.length > 0) return !exporters.every((e) => e === 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

if (isTracingEnabled(process.env)) {
  process.env.OTEL_SERVICE_NAME ??= 'authjwt';
  const [{ NodeSDK }, { UndiciInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-undici'),
  ]);
  const sdk = new NodeSDK({
    // Provider calls go through fetch (undici): one client span each. Headers are not recorded, so
    // bearer tokens never reach a span; request bodies (introspection) are never recorded either.
    instrumentations: [new UndiciInstrumentation()],
  });
  sdk.start();
  (globalThis as Record<symbol, unknown>)[TRACING_SHUTDOWN] = () => sdk.shutdown();
}
