import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { authJwtError, type AuthJwtError } from '../errors.ts';
import { toGrpcStatus } from './status.ts';

/** How admission treats one method. */
export interface AdmissionRule {
  /** Refused with UNAVAILABLE while draining (health stays answerable so clients see NOT_SERVING). */
  drain: boolean;
  /** Counted against its pool's limit and refused with RESOURCE_EXHAUSTED beyond it. */
  shed: boolean;
  /** `calls` (maxConcurrentCalls) or `streams` (maxStreams: long-lived streams such as health Watch). */
  pool?: 'calls' | 'streams';
  /** Ended with DEADLINE_EXCEEDED after the default deadline when the client set none or a longer one. */
  deadline: boolean;
}

export interface AdmissionOptions {
  maxConcurrentCalls: number;
  /** Long-lived streams admitted at once (their own pool, so they cannot starve unary calls). */
  maxStreams: number;
  /** ms. */
  defaultDeadline: number;
  isAccepting: () => boolean;
  ruleFor: (path: string) => AdmissionRule;
  /** Called for each refused call (logs). */
  onRefused?: ((path: string, error: AuthJwtError) => void) | undefined;
}

export interface Admission {
  interceptor: ServerInterceptor;
  /** Calls and streams counted now. */
  inFlight(): number;
}

/**
 * Admission control as a gRPC server interceptor, for every service on the server: drain (UNAVAILABLE
 * after SIGTERM), load shedding (RESOURCE_EXHAUSTED beyond `maxConcurrentCalls`, Watch streams
 * in their own pool) and the default deadline. A slot is freed the moment the call ends for the client —
 * status sent, cancelled or past its deadline — not when abandoned work finishes. Handlers learn of
 * the end through the call's `cancelled` event.
 */
export function createAdmission(options: AdmissionOptions): Admission {
  const pools = { calls: { inFlight: 0, limit: options.maxConcurrentCalls }, streams: { inFlight: 0, limit: options.maxStreams } };
  // The three ways admission ends a call, built once: under overload every refused call would
  // otherwise encode its own google.rpc.Status (grpc-js copies the trailers it sends).
  const ending = (code: 'SHUTTING_DOWN' | 'OVERLOADED' | 'DEADLINE') => {
    const error = authJwtError(code);
    const { code: status, details, metadata } = toGrpcStatus(error);
    return { error, status: { code: status, details, metadata } };
  };
  const shuttingDown = ending('SHUTTING_DOWN');
  const overloaded = ending('OVERLOADED');
  const deadline = ending('DEADLINE');
  const interceptor: ServerInterceptor = (method, call) => {
    const rule = options.ruleFor(method.path);
    const pool = pools[rule.pool ?? 'calls'];
    let counted = false;
    let timer: NodeJS.Timeout | undefined;
    const release = () => {
      clearTimeout(timer);
      timer = undefined;
      if (counted) {
        counted = false;
        pool.inFlight--;
      }
    };
    const refuse = (refusal: typeof overloaded) => {
      options.onRefused?.(method.path, refusal.error);
      call.sendStatus(refusal.status);
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            if (rule.drain && !options.isAccepting()) return refuse(shuttingDown);
            if (rule.shed) {
              if (pool.inFlight >= pool.limit) return refuse(overloaded);
              pool.inFlight++;
              counted = true;
            }
            // The client's own deadline, when it is not later than the default, is enforced by grpc-js and
            // ends the call first: no timer of ours then (one fewer timer per call: issue 24).
            if (rule.deadline && !(Number(call.getDeadline()) - Date.now() <= options.defaultDeadline)) {
              timer = setTimeout(() => call.sendStatus(deadline.status), options.defaultDeadline);
            }
            mdNext(metadata);
          },
          onCancel: release,
        });
      },
      sendStatus(status, next) {
        release();
        next(status);
      },
    });
  };
  return { interceptor, inFlight: () => pools.calls.inFlight + pools.streams.inFlight };
}
