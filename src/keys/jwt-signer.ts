import { SignJWT, type JWTPayload } from 'jose';
import { AuthJwtError } from '../errors.ts';
import type { SigningKeyProvider } from './key-store.ts';

/** Port used by the exchange: signs a claim set with the current key. */
export interface Signer {
  /** Signs `claims` (which must carry `exp` in seconds); throws UNAVAILABLE when no key can sign. */
  sign(claims: JWTPayload & { exp: number }): Promise<{ token: string; kid: string; alg: string }>;
}

export class JoseSigner implements Signer {
  readonly #keys: SigningKeyProvider;
  constructor(keys: SigningKeyProvider) {
    this.#keys = keys;
  }

  async sign(claims: JWTPayload & { exp: number }): Promise<{ token: string; kid: string; alg: string }> {
    const key = this.#keys.currentSigningKey();
    if (!key) throw new AuthJwtError('unavailable', 'ERR_AUTHJWT_KEYS_NO_SIGNING_KEY', 'no signing key is available');
    // Record before signing so the key is kept published for as long as this token may be presented.
    this.#keys.recordUse(key.kid, claims.exp * 1000);
    const token = await new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
    return { token, kid: key.kid, alg: key.alg };
  }
}
