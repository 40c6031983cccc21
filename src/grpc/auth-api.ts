import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { TokenExchange } from '../exchange/token-exchange.ts';
import type { AuthAPIHandlers } from '../generated/auth/v1alpha1/AuthAPI.ts';
import type { GetJWTRequest__Output } from '../generated/auth/v1alpha1/GetJWTRequest.ts';
import type { GetJWTResponse } from '../generated/auth/v1alpha1/GetJWTResponse.ts';
import { beginExchangeReport, type ExchangeEvent } from '../telemetry/exchange-events.ts';
import { callSignal } from './call-signal.ts';
import { toGrpcStatus } from './status.ts';

export interface AuthApiOptions {
  exchange: Pick<TokenExchange, 'exchangeAccount'>;
  /** Configured provider ids: the only values allowed as a metric/log label. */
  providerIds: ReadonlySet<string>;
  report: (event: ExchangeEvent) => void;
  /** Reuse minted tokens for repeated GetJWT calls with the same access token (shared jti; off by default). */
  reuseMinted?: boolean;
}

/** `auth.v1alpha1.AuthAPI`: a thin adapter from gRPC to the exchange use case. */
export function createAuthApi(options: AuthApiOptions): AuthAPIHandlers {
  const GetJWT = (call: ServerUnaryCall<GetJWTRequest__Output, GetJWTResponse>, callback: sendUnaryData<GetJWTResponse>) => {
    const report = beginExchangeReport('getjwt', options);
    const { signal, dispose } = callSignal(call);
    options.exchange.exchangeAccount(call.request?.account, { signal, reuseMinted: options.reuseMinted ?? false }).then(
      (result) => {
        dispose();
        report.succeeded(result);
        callback(null, { token: result.token });
      },
      (error: unknown) => {
        dispose();
        const failure = toGrpcStatus(error);
        report.failed(failure, error, call.request?.account?.provider);
        callback({ code: failure.code, details: failure.details, metadata: failure.metadata });
      },
    );
  };
  return { GetJWT };
}
