import { tokenRejected } from '../errors.ts';

/** Reads a dotted path (`user.id`) from untrusted JSON without touching prototype properties. */
export function readPath(source: unknown, path: string): unknown {
  let current: unknown = source;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** An account id as a string: strings as they are, integers in decimal; anything else is absent. */
export function accountIdOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** Values in `aud` (string or array), `azp` and `client_id` that name a client. */
export function clientsNamedBy(claims: Record<string, unknown>): string[] {
  const out: string[] = [];
  const aud = claims.aud;
  if (typeof aud === 'string') out.push(aud);
  else if (Array.isArray(aud)) for (const a of aud) if (typeof a === 'string') out.push(a);
  if (typeof claims.azp === 'string') out.push(claims.azp);
  if (typeof claims.client_id === 'string') out.push(claims.client_id);
  return out;
}

/** Throws UNAUTHENTICATED unless one of aud/azp/client_id is an accepted audience. */
export function assertAudience(provider: string, claims: Record<string, unknown>, audiences: readonly string[] | undefined): void {
  if (!audiences?.length) return;
  const named = clientsNamedBy(claims);
  if (!named.some((n) => audiences.includes(n))) {
    throw tokenRejected('WRONG_AUDIENCE', `access token was not issued to an accepted client of provider ${provider}`, {
      detail: `aud/azp/client_id ${JSON.stringify(named.slice(0, 5))} not in ${JSON.stringify(audiences)}`,
    });
  }
}

/** The client a token was issued to: azp, else client_id, else a single aud. */
export function issuedToClient(claims: Record<string, unknown>): string | undefined {
  if (typeof claims.azp === 'string') return claims.azp;
  if (typeof claims.client_id === 'string') return claims.client_id;
  return typeof claims.aud === 'string' ? claims.aud : undefined;
}
