import { LRUCache } from 'lru-cache';

/** Payload segments longer than this are parsed every time, never remembered (ASCII characters). */
const MAX_REMEMBERED_PAYLOAD = 4096;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** What one payload segment names: the `iss` string, or none. */
interface Peeked {
  iss: string | undefined;
}

export interface IssuerPeekOptions {
  /** Payload segments remembered at once (default 1024; 0: nothing is remembered). */
  maxEntries?: number;
}

/**
 * The issuer a JWT claims, unverified: used only to choose which provider verifies the token, and that
 * provider then verifies the token in full. On every edge request, so the answer for a payload segment
 * is remembered in a small LRU (issue 24): a repeated token is not base64-decoded and JSON-parsed again.
 *
 * The key is the payload segment alone, copied out of the token: without its signature it is not a
 * credential, so no bearer token is kept in memory. The answer is a pure function of the segment, so two
 * tokens can share an entry only when their payloads are byte-identical, and then `iss` is the same.
 * Bounded by entries and by the characters of the remembered segments.
 */
export interface IssuerPeek {
  /** The `iss` the token's payload names, or undefined (not a JWT, no string `iss`). */
  issuerOf(token: string): string | undefined;
  /** Payload segments remembered now. */
  readonly size: number;
}

export function createIssuerPeek(options: IssuerPeekOptions = {}): IssuerPeek {
  const max = options.maxEntries ?? 1024;
  const cache = max > 0 ? new LRUCache<string, Peeked>({ max, maxSize: max * 1024, sizeCalculation: (_, key) => key.length }) : undefined;
  const issuerOf = (token: string) => {
    // Three segments, the payload not empty (what a JWT decoder accepts; the verifier checks the rest).
    const first = token.indexOf('.');
    const last = token.lastIndexOf('.');
    if (first < 0 || last === first + 1 || token.indexOf('.', first + 1) !== last) return undefined;
    const segment = token.slice(first + 1, last);
    if (!cache || segment.length > MAX_REMEMBERED_PAYLOAD) return parseIssuer(segment);
    const known = cache.get(segment);
    if (known) return known.iss;
    const iss = parseIssuer(segment);
    // A copy, not a slice: V8 may keep a slice as a view into the whole token (signature included).
    // Only base64url text is remembered, so the latin1 round trip copies it exactly.
    if (BASE64URL.test(segment)) cache.set(Buffer.from(segment, 'latin1').toString('latin1'), { iss });
    return iss;
  };
  return {
    issuerOf,
    get size() {
      return cache?.size ?? 0;
    },
  };
}

function parseIssuer(segment: string): string | undefined {
  try {
    const payload: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    const iss = payload !== null && typeof payload === 'object' ? (payload as { iss?: unknown }).iss : undefined;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
