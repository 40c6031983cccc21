import type { ServerUnaryCall } from '@grpc/grpc-js';
import { authJwtError } from '../errors.ts';

/**
 * An AbortSignal that fires when the call ends for the client: it cancelled, its deadline passed, or
 * admission ended it at the default deadline (grpc-js emits `cancelled` in every case). Work for the
 * call — provider requests included — stops at once.
 */
export function callSignal(call: Pick<ServerUnaryCall<unknown, unknown>, 'once' | 'removeListener' | 'cancelled'>): {
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const onCancel = () => controller.abort(authJwtError('CANCELLED'));
  if (call.cancelled) onCancel();
  else call.once('cancelled', onCancel);
  return { signal: controller.signal, dispose: () => call.removeListener('cancelled', onCancel) };
}
