import { trace } from '@opentelemetry/api';
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * Paths that may hold a credential. Code never logs requests or tokens; this is the second line of
 * defence if an object carrying one reaches a log call.
 */
const REDACTED_PATHS = [
  'access_token',
  'accessToken',
  'token',
  'id_token',
  'refresh_token',
  'client_secret',
  'clientSecret',
  'authorization',
  'password',
  'privateKey',
  'd',
  '*.access_token',
  '*.accessToken',
  '*.token',
  '*.id_token',
  '*.refresh_token',
  '*.client_secret',
  '*.clientSecret',
  '*.authorization',
  '*.password',
  '*.privateKey',
  '*.d',
  'req.headers.authorization',
  'request.account.accessToken',
  'account.accessToken',
  'account.access_token',
];

/** JSON logs on stdout (or `destination`), with credential paths redacted. */
export function createLogger(options: { level?: string; destination?: DestinationStream; base?: Record<string, unknown> } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'authjwt', ...options.base },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Correlate log lines with traces when a span is active (tracing enabled).
      mixin() {
        const span = trace.getActiveSpan();
        if (!span) return {};
        const { traceId, spanId } = span.spanContext();
        return { trace_id: traceId, span_id: spanId };
      },
    },
    options.destination,
  );
}
