import type { ServerResponse } from 'node:http';
import { authJwtError } from '../errors.ts';

/**
 * The HTTP doors' counterpart of grpc/call-signal.ts: an AbortSignal that fires with DEADLINE after
 * `timeout` ms, or with CANCELLED when the client (or the gateway) closes the connection before the
 * answer. Work for the request — provider requests included — stops at once.
 */
export function requestSignal(res: ServerResponse, timeout: number): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(authJwtError('CANCELLED'));
  };
  const timer = setTimeout(() => controller.abort(authJwtError('DEADLINE')), timeout);
  if (res.destroyed) onClose();
  else res.once('close', onClose);
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      res.off('close', onClose);
    },
  };
}
