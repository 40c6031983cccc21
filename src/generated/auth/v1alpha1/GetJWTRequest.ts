// Original file: proto/auth/v1alpha1/auth.proto

import type { Account as _auth_v1alpha1_Account, Account__Output as _auth_v1alpha1_Account__Output } from '../../auth/v1alpha1/Account.ts';

export interface GetJWTRequest {
  'account'?: (_auth_v1alpha1_Account | null);
}

export interface GetJWTRequest__Output {
  'account': (_auth_v1alpha1_Account__Output | null);
}
