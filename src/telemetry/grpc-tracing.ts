import type { Metadata, sendUnaryData, ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key).map(String);
    return values.length > 1 ? values : values[0];
  },
};

/**
 * Wraps unary handlers in a SERVER span that continues the caller's W3C trace context (traceparent
 * in the gRPC metadata) and runs the handler inside it, so provider-call and signing spans and log
 * lines join the trace. Installed only when tracing is on (src/app.ts).
 */
export function traceUnaryService(definition: ServiceDefinition, handlers: UntypedServiceImplementation): UntypedServiceImplementation {
  const tracer = trace.getTracer('authjwt');
  const wrapped: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = handlers[name] as ((call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void) | undefined;
    if (!handler || method.requestStream || method.responseStream) {
      if (handler) wrapped[name] = handler;
      continue;
    }
    const [, service = '', rpc = name] = /^\/([^/]+)\/([^/]+)$/.exec(method.path) ?? [];
    wrapped[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
      const span = tracer.startSpan(
        `${service}/${rpc}`,
        { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': rpc } },
        parent,
      );
      context.with(trace.setSpan(parent, span), () =>
        handler(call, (error, value) => {
          const code = error ? (error.code ?? 2) : 0;
          span.setAttribute('rpc.grpc.status_code', code);
          if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.details ?? undefined });
          span.end();
          callback(error, value);
        }),
      );
    };
  }
  return wrapped;
}
