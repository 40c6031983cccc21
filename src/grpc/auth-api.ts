import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { trace } from '@opentelemetry/api';
import { AuthJwtError } from '../errors.ts';
import type { TokenExchange } from '../exchange/get-jwt.ts';
import type { AuthAPIHandlers } from '../generated/auth/v1alpha1/AuthAPI.ts';
import type { GetJWTRequest__Output } from '../generated/auth/v1alpha1/GetJWTRequest.ts';
import type { GetJWTResponse } from '../generated/auth/v1alpha1/GetJWTResponse.ts';
import type { Logger } from '../telemetry/logger.ts';
import { toGrpcStatus, type Outcome } from './status.ts';

export interface GetJwtObserver {
  /** `provider` is a configured provider id or "_unknown" (never a raw request value). */
  onGetJwt?(event: { provider: string; outcome: Outcome; durationSeconds: number }): void;
}

export interface AuthApiOptions {
  exchange: TokenExchange;
  logger: Logger;
  /** Configured provider ids: the only values allowed as a metric/log label. */
  providerIds: ReadonlySet<string>;
  /** Calls in progress beyond this fail fast with RESOURCE_EXHAUSTED (load shedding). */
  maxConcurrentCalls: number;
  /** Applied when the client sets no deadline or a longer one (ms). */
  defaultDeadline: number;
  observer?: GetJwtObserver | undefined;
  /** False while draining: new calls get UNAVAILABLE. */
  isAccepting?: () => boolean;
}

export interface AuthApi {
  handlers: AuthAPIHandlers;
  inFlight(): number;
  /** Resolves when no call is in flight. */
  idle(): Promise<void>;
}

/** The AuthAPI service: a thin adapter from gRPC to the exchange use case. */
export function createAuthApi(options: AuthApiOptions): AuthApi {
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  const settle = () => {
    inFlight--;
    if (inFlight === 0) {
      for (const w of idleWaiters) w();
      idleWaiters = [];
    }
  };

  const GetJWT = (call: ServerUnaryCall<GetJWTRequest__Output, GetJWTResponse>, callback: sendUnaryData<GetJWTResponse>) => {
    const started = performance.now();
    const requested = call.request?.account?.provider;
    const provider = typeof requested === 'string' && options.providerIds.has(requested) ? requested : '_unknown';
    const finish = (outcome: Outcome, fields: Record<string, unknown>, level: 'debug' | 'info' | 'warn' | 'error') => {
      const durationSeconds = (performance.now() - started) / 1000;
      options.observer?.onGetJwt?.({ provider, outcome, durationSeconds });
      const span = trace.getActiveSpan();
      if (span) span.setAttributes({ 'authjwt.provider': provider, 'authjwt.outcome': outcome, ...(typeof fields.strategy === 'string' ? { 'authjwt.strategy': fields.strategy } : {}) });
      if (options.logger.isLevelEnabled(level)) {
        options.logger[level]({ rpc: 'GetJWT', provider, outcome, durationMs: Math.round(durationSeconds * 1e4) / 10, ...fields }, 'GetJWT');
      }
    };

    if (options.isAccepting && !options.isAccepting()) {
      finish('unavailable', { reason: 'ERR_AUTHJWT_SHUTTING_DOWN' }, 'info');
      callback({ code: GrpcStatus.UNAVAILABLE, details: 'server is shutting down' });
      return;
    }
    if (inFlight >= options.maxConcurrentCalls) {
      finish('resource_exhausted', { reason: 'ERR_AUTHJWT_OVERLOADED' }, 'warn');
      callback({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'server is overloaded, retry with backoff' });
      return;
    }
    inFlight++;
    const controller = new AbortController();
    const onCancel = () => controller.abort(new AuthJwtError('deadline_exceeded', 'ERR_AUTHJWT_CANCELLED', 'call cancelled'));
    call.once('cancelled', onCancel);
    const deadlineMs = remainingDeadline(call.getDeadline(), options.defaultDeadline);
    const timer = setTimeout(() => controller.abort(new AuthJwtError('deadline_exceeded', 'ERR_AUTHJWT_DEADLINE', 'deadline exceeded')), deadlineMs);

    options.exchange.getJwt(call.request?.account, { signal: controller.signal }).then(
      (result) => {
        // Successes at debug: at thousands of calls per second an info line each costs real
        // throughput; metrics count them. Failures stay at info/warn/error.
        finish('ok', { strategy: result.strategy, kid: result.kid }, 'debug');
        callback(null, { token: result.token });
      },
      (error: unknown) => {
        // An abort surfaces as whatever the in-progress step threw; report the abort reason instead.
        const cause = controller.signal.aborted ? controller.signal.reason : error;
        const failure = toGrpcStatus(cause);
        const level = failure.outcome === 'internal' ? 'error' : failure.outcome === 'unavailable' ? 'warn' : 'info';
        finish(failure.outcome, {
          reason: failure.reason,
          detail: cause instanceof AuthJwtError ? cause.detail : undefined,
          ...(failure.outcome === 'internal' ? { err: cause } : {}),
        }, level);
        callback({ code: failure.code, details: failure.details });
      },
    ).finally(() => {
      clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
      settle();
    });
  };

  return {
    handlers: { GetJWT },
    inFlight: () => inFlight,
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
  };
}

function remainingDeadline(deadline: Date | number, fallback: number): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return fallback;
  return Math.max(0, Math.min(fallback, at - Date.now()));
}
