import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { AccessPolicy, Signer, TokenVerifier } from '../exchange/ports.ts';

/**
 * Tracing around the exchange's ports, installed by the composition root only when tracing is on
 * (the use case knows nothing of spans): `authjwt.verify` (with the provider call's client span
 * inside), `authjwt.policy` (the decision and the rule) and `authjwt.sign`.
 */
const tracer = trace.getTracer('authjwt');

export function traceVerifier(verifier: TokenVerifier, provider: string): TokenVerifier {
  return {
    verify: (token, options) =>
      inSpan('authjwt.verify', { 'authjwt.provider': provider }, async (span) => {
        const identity = await verifier.verify(token, options);
        span.setAttribute('authjwt.strategy', identity.strategy);
        return identity;
      }),
  };
}

export function traceSigner(signer: Signer): Signer {
  return {
    sign: (claims, options) =>
      inSpan('authjwt.sign', { 'authjwt.provider': String(claims.provider) }, async (span) => {
        const signed = await signer.sign(claims, options);
        span.setAttributes({ 'authjwt.kid': signed.kid, 'authjwt.alg': signed.alg });
        return signed;
      }),
  };
}

export function tracePolicy(policy: AccessPolicy, provider: string): AccessPolicy {
  return {
    needs: policy.needs,
    evaluate(input) {
      const span = tracer.startSpan('authjwt.policy', { attributes: { 'authjwt.provider': provider } });
      try {
        const decision = policy.evaluate(input);
        span.setAttributes({
          'authjwt.policy.allowed': decision.allowed,
          ...(decision.allowed ? {} : { 'authjwt.policy.rule': decision.rule, 'authjwt.policy.reason': decision.reason }),
        });
        return decision;
      } finally {
        span.end();
      }
    },
  };
}

/** Runs `fn` in a child span; records the error code (never a token) on failure. */
function inSpan<T>(name: string, attributes: Record<string, string>, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'error' });
      throw error;
    } finally {
      span.end();
    }
  });
}
