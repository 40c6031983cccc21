// Original file: proto/auth/v1alpha1/auth.proto


export interface GetJWTResponse {
  'token'?: (string);
}

export interface GetJWTResponse__Output {
  'token': (string);
}
