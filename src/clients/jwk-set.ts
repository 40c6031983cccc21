import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';

/**
 * Public keys a caller's assertions are verified with: a client's registered JWK Set (`private_key_jwt`,
 * RFC 7523) or a SPIFFE bundle's JWT-SVID keys. Inline, or from a file re-read every `reloadInterval` like
 * the signing keys and TLS files: a rotated key applies without restart, a bad update keeps the last good
 * set (and is reported), a missing or invalid file at start fails the start.
 */
export type JwkSetPurpose = 'client' | 'jwt-svid';

const MAX_FILE_BYTES = 256 * 1024;
const MAX_KEYS = 64;
/** Private or symmetric key material: never accepted as a verification key. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** The verification keys of a JWK Set text or object; throws an Error naming the problem (never key material). */
function parseJwkSet(source: unknown, purpose: JwkSetPurpose): JSONWebKeySet {
  let value = source;
  if (typeof source === 'string') {
    if (source.length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    try {
      value = JSON.parse(source);
    } catch {
      throw new Error('not JSON');
    }
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('not a JWK Set (no "keys" array)');
  if (keys.length > MAX_KEYS) throw new Error(`more than ${MAX_KEYS} keys`);
  const out: JWK[] = [];
  keys.forEach((k: unknown, i) => {
    if (typeof k !== 'object' || k === null || Array.isArray(k)) throw new Error(`keys[${i}] is not an object`);
    const key = k as JWK & Record<string, unknown>;
    // A SPIFFE bundle also holds X.509 authorities (use x509-svid) and may hold other uses: only jwt-svid keys sign JWT-SVIDs.
    if (purpose === 'jwt-svid' && key.use !== 'jwt-svid') return;
    if (purpose === 'client' && key.use !== undefined && key.use !== 'sig') return;
    if (PRIVATE_MEMBERS.some((m) => Object.hasOwn(key, m))) throw new Error(`keys[${i}] holds private or symmetric key material`);
    if (!['RSA', 'EC', 'OKP'].includes(String(key.kty)))
      throw new Error(`keys[${i}] has kty ${String(key.kty).slice(0, 10)}, not RSA, EC or OKP`);
    if (purpose === 'jwt-svid' && (typeof key.kid !== 'string' || key.kid === ''))
      throw new Error(`keys[${i}] is a jwt-svid key without kid (SPIFFE bundle format)`);
    // jose picks verification keys by `use` "sig" (or none): a SPIFFE `jwt-svid` key is one.
    out.push(purpose === 'jwt-svid' ? { ...key, use: 'sig' } : key);
  });
  if (out.length === 0) throw new Error(purpose === 'jwt-svid' ? 'no key with use "jwt-svid"' : 'no signature key');
  return { keys: out };
}

export interface JwkSetSource {
  /** Resolves the key of a JWS (jose), against the current set. */
  readonly getKey: JWTVerifyGetKey;
  close(): void;
}

/** A fixed JWK Set. */
export function inlineJwkSet(jwks: unknown, purpose: JwkSetPurpose): JwkSetSource {
  const get = createLocalJWKSet(parseJwkSet(jwks, purpose));
  return { getKey: (header, token) => get(header, token), close: () => {} };
}

/** A JWK Set file, re-read every `reloadIntervalMs`; `onReload` hears each change and each failed re-read. */
export function fileJwkSet(
  path: string,
  purpose: JwkSetPurpose,
  reloadIntervalMs: number,
  onReload: (event: { path: string; ok: boolean; keys?: number; error?: string }) => void = () => {},
): JwkSetSource {
  let text = readFileSync(path, 'utf8');
  let get = createLocalJWKSet(parseJwkSet(text, purpose)); // throws at start: a configuration error
  const timer = setInterval(() => {
    let next: string;
    try {
      next = readFileSync(path, 'utf8');
    } catch (error) {
      onReload({ path, ok: false, error: (error as NodeJS.ErrnoException).code ?? 'unreadable' });
      return;
    }
    if (next === text) return;
    try {
      const jwks = parseJwkSet(next, purpose);
      get = createLocalJWKSet(jwks);
      text = next;
      onReload({ path, ok: true, keys: jwks.keys.length });
    } catch (error) {
      onReload({ path, ok: false, error: (error as Error).message });
    }
  }, reloadIntervalMs);
  timer.unref();
  return { getKey: (header, token) => get(header, token), close: () => clearInterval(timer) };
}
