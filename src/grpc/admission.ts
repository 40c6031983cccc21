import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { authJwtError, type AuthJwtError } from '../errors.ts';
import { toGrpcStatus } from './status.ts';

/** How admission treats one method. */
export interface AdmissionRule {
  /** Refused with UNAVAILABLE while draining (health stays answerable so clients see NOT_SERVING). */
  drain: boolean;
  /** Counted against `maxConcurrentCalls` and refused with RESOURCE_EXHAUSTED beyond it. */
  shed: boolean;
  /** Ended with DEADLINE_EXCEEDED after the default deadline when the client set none or a longer one. */
  deadline: boolean;
}

export interface AdmissionOptions {
  maxConcurrentCalls: number;
  /** ms. */
  defaultDeadline: number;
  isAccepting: () => boolean;
  ruleFor: (path: string) => AdmissionRule;
  /** Called for each refused call (logs). */
  onRefused?: ((path: string, error: AuthJwtError) => void) | undefined;
}

export interface Admission {
  interceptor: ServerInterceptor;
  /** Calls (and streams) counted now. */
  inFlight(): number;
}

/**
 * Admission control as a gRPC server interceptor, for every service on the server: drain (UNAVAILABLE
 * after SIGTERM), load shedding (RESOURCE_EXHAUSTED beyond `maxConcurrentCalls`, Watch streams
 * included) and the default deadline. A slot is freed the moment the call ends for the client —
 * status sent, cancelled or past its deadline — not when abandoned work finishes. Handlers learn of
 * the end through the call's `cancelled` event.
 */
export function createAdmission(options: AdmissionOptions): Admission {
  let inFlight = 0;
  const interceptor: ServerInterceptor = (method, call) => {
    const rule = options.ruleFor(method.path);
    let counted = false;
    let timer: NodeJS.Timeout | undefined;
    const release = () => {
      clearTimeout(timer);
      timer = undefined;
      if (counted) {
        counted = false;
        inFlight--;
      }
    };
    const refuse = (error: AuthJwtError) => {
      options.onRefused?.(method.path, error);
      const failure = toGrpcStatus(error);
      call.sendStatus({ code: failure.code, details: failure.details, metadata: failure.metadata });
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            if (rule.drain && !options.isAccepting()) return refuse(authJwtError('SHUTTING_DOWN'));
            if (rule.shed) {
              if (inFlight >= options.maxConcurrentCalls) return refuse(authJwtError('OVERLOADED'));
              inFlight++;
              counted = true;
            }
            if (rule.deadline) {
              // The client's own (shorter) deadline is enforced by grpc-js and ends the call first.
              timer = setTimeout(() => {
                const failure = toGrpcStatus(authJwtError('DEADLINE'));
                call.sendStatus({ code: failure.code, details: failure.details, metadata: failure.metadata });
              }, options.defaultDeadline);
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
  return { interceptor, inFlight: () => inFlight };
}
