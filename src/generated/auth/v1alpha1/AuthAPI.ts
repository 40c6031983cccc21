// Original file: proto/auth/v1alpha1/auth.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetJWTRequest as _auth_v1alpha1_GetJWTRequest, GetJWTRequest__Output as _auth_v1alpha1_GetJWTRequest__Output } from '../../auth/v1alpha1/GetJWTRequest.ts';
import type { GetJWTResponse as _auth_v1alpha1_GetJWTResponse, GetJWTResponse__Output as _auth_v1alpha1_GetJWTResponse__Output } from '../../auth/v1alpha1/GetJWTResponse.ts';

export interface AuthAPIClient extends grpc.Client {
  GetJWT(argument: _auth_v1alpha1_GetJWTRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  GetJWT(argument: _auth_v1alpha1_GetJWTRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  GetJWT(argument: _auth_v1alpha1_GetJWTRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  GetJWT(argument: _auth_v1alpha1_GetJWTRequest, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  getJwt(argument: _auth_v1alpha1_GetJWTRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  getJwt(argument: _auth_v1alpha1_GetJWTRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  getJwt(argument: _auth_v1alpha1_GetJWTRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  getJwt(argument: _auth_v1alpha1_GetJWTRequest, callback: grpc.requestCallback<_auth_v1alpha1_GetJWTResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface AuthAPIHandlers extends grpc.UntypedServiceImplementation {
  GetJWT: grpc.handleUnaryCall<_auth_v1alpha1_GetJWTRequest__Output, _auth_v1alpha1_GetJWTResponse>;
  
}

export interface AuthAPIDefinition extends grpc.ServiceDefinition {
  GetJWT: MethodDefinition<_auth_v1alpha1_GetJWTRequest, _auth_v1alpha1_GetJWTResponse, _auth_v1alpha1_GetJWTRequest__Output, _auth_v1alpha1_GetJWTResponse__Output>
}
