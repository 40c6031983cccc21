import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Account as _auth_v1alpha1_Account, Account__Output as _auth_v1alpha1_Account__Output } from './auth/v1alpha1/Account.ts';
import type { AuthAPIClient as _auth_v1alpha1_AuthAPIClient, AuthAPIDefinition as _auth_v1alpha1_AuthAPIDefinition } from './auth/v1alpha1/AuthAPI.ts';
import type { GetJWTRequest as _auth_v1alpha1_GetJWTRequest, GetJWTRequest__Output as _auth_v1alpha1_GetJWTRequest__Output } from './auth/v1alpha1/GetJWTRequest.ts';
import type { GetJWTResponse as _auth_v1alpha1_GetJWTResponse, GetJWTResponse__Output as _auth_v1alpha1_GetJWTResponse__Output } from './auth/v1alpha1/GetJWTResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  auth: {
    v1alpha1: {
      Account: MessageTypeDefinition<_auth_v1alpha1_Account, _auth_v1alpha1_Account__Output>
      AuthAPI: SubtypeConstructor<typeof grpc.Client, _auth_v1alpha1_AuthAPIClient> & { service: _auth_v1alpha1_AuthAPIDefinition }
      GetJWTRequest: MessageTypeDefinition<_auth_v1alpha1_GetJWTRequest, _auth_v1alpha1_GetJWTRequest__Output>
      GetJWTResponse: MessageTypeDefinition<_auth_v1alpha1_GetJWTResponse, _auth_v1alpha1_GetJWTResponse__Output>
    }
  }
}

