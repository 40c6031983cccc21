/**
 * Whether the tracing preload (tracing.ts) started the OpenTelemetry SDK. Side-effect free, so the
 * exchange, the composition root and main.ts can ask without loading (or starting) the SDK.
 */

/** Set by the preload when tracing is on; main.ts calls it on shutdown to flush spans. */
export const TRACING_SHUTDOWN = Symbol.for('authjwt.tracing.shutdown');

/** True when the preload started the SDK: callers skip span work entirely otherwise (hot path). */
export function tracingActive(): boolean {
  return typeof (globalThis as Record<symbol, unknown>)[TRACING_SHUTDOWN] === 'function';
}

/** The SDK's shutdown (flushes pending spans), when tracing is on. */
export function tracingShutdown(): (() => Promise<void>) | undefined {
  return (globalThis as Record<symbol, (() => Promise<void>) | undefined>)[TRACING_SHUTDOWN];
}
