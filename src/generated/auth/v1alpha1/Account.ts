// Original file: proto/auth/v1alpha1/auth.proto


export interface Account {
  'provider'?: (string);
  'type'?: (string);
  'providerAccountId'?: (string);
  'accessToken'?: (string);
}

export interface Account__Output {
  'provider': (string);
  'type': (string);
  'providerAccountId': (string);
  'accessToken': (string);
}
