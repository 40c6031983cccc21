import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import type { SigningKey } from './key-file.ts';

/** The published JSON Web Key Set with its HTTP validator. */
export interface PublishedJwks {
  body: string;
  etag: string;
  keys: readonly Readonly<JWK>[];
}

/** What the exchange needs from the keys: the key to sign with now. */
export interface SigningKeyProvider {
  /** The key to sign with at `now`, or undefined when none is usable (service NOT_SERVING). */
  currentSigningKey(now?: number): SigningKey | undefined;
  /** Records that a token signed with `kid` is valid until `expiresAt` (keeps the key published). */
  recordUse(kid: string, expiresAt: number): void;
}

export interface KeyStoreStatus {
  publishedKeys: number;
  signingKeys: number;
  signingKid: string | undefined;
  /** When the current signing key became active (ms since epoch). */
  signingSince: number | undefined;
  lastReloadAt: number | undefined;
  /** Catalogue code of the last failed reload (shown in /readyz), cleared by a successful one. */
  lastReloadError: string | undefined;
  /** Its message, naming the file (logs and tests only: may contain paths). */
  lastReloadDetail: string | undefined;
}

interface Entry {
  key: SigningKey;
  /** When this process first saw the key. */
  firstSeen: number;
  /** Earliest time this process allows signing by observation (first load: at once; later: lead time). */
  observedFrom: number;
  /** Earliest time the key may sign: max(explicit Not-Before, observedFrom). */
  activeFrom: number;
}

/**
 * Holds the keyring and decides which key signs. Rules (see docs/key-rotation.md):
 * - every loaded key is published in JWKS;
 * - a key may sign only from its explicit `Not-Before`, and a key that appears while running only
 *   after it has been published here for `publishLeadTime` (gateways cache JWKS);
 * - of the keys allowed to sign, the one with the latest activation signs; ties go to the smallest kid
 *   so that every replica chooses the same key;
 * - a key removed from the Secret stays published while tokens this process signed with it are valid.
 */
export class KeyStore implements SigningKeyProvider {
  readonly #leadTime: number;
  readonly #clock: () => number;
  #entries = new Map<string, Entry>();
  /** Removed keys kept published until the tokens signed with them expire. */
  #retired = new Map<string, { key: SigningKey; until: number }>();
  /** kid → latest expiry of a token signed with it. */
  #lastUse = new Map<string, number>();
  #loadedOnce = false;
  #jwks: PublishedJwks = buildJwks([]);
  #sorted: Entry[] = [];
  #lastReloadAt: number | undefined;
  #lastReloadError: string | undefined;
  #lastReloadDetail: string | undefined;
  readonly #listeners = new Set<() => void>();
  /** Signing kid as of the last change event: {@link advance} emits when time changes it. */
  #announcedSigningKid: string | undefined;

  constructor(options: { publishLeadTime: number; clock?: () => number }) {
    this.#leadTime = options.publishLeadTime;
    this.#clock = options.clock ?? Date.now;
  }

  /** Replaces the keyring with a complete, valid set of keys. */
  replaceKeys(keys: readonly SigningKey[]): void {
    const now = this.#clock();
    const next = new Map<string, Entry>();
    for (const key of keys) {
      const previous = this.#entries.get(key.kid);
      const firstSeen = previous?.firstSeen ?? now;
      // Keys present at the first load are already published by the other replicas; keys that appear
      // later must wait out the lead time here too.
      const observedFrom = previous?.observedFrom ?? (this.#loadedOnce ? firstSeen + this.#leadTime : Number.NEGATIVE_INFINITY);
      const activeFrom = Math.max(key.notBefore ?? Number.NEGATIVE_INFINITY, observedFrom);
      next.set(key.kid, { key, firstSeen, observedFrom, activeFrom });
      this.#retired.delete(key.kid);
    }
    for (const [kid, entry] of this.#entries) {
      if (next.has(kid)) continue;
      const until = this.#lastUse.get(kid);
      if (until !== undefined && until > now) this.#retired.set(kid, { key: entry.key, until });
    }
    this.#entries = next;
    this.#loadedOnce = true;
    this.#lastReloadAt = now;
    this.#lastReloadError = undefined;
    this.#lastReloadDetail = undefined;
    this.#rebuild();
  }

  /** Records a failed reload (the last good keyring stays in use). */
  recordReloadFailure(code: string, detail: string): void {
    this.#lastReloadError = code;
    this.#lastReloadDetail = detail;
    this.#emit();
  }

  currentSigningKey(now = this.#clock()): SigningKey | undefined {
    for (const entry of this.#sorted) if (entry.activeFrom <= now) return entry.key;
    // A key replaced in place (same file, new key) leaves nothing past its lead time: keep signing
    // with the key that was signing until now, still published here, rather than failing every call.
    let fallback: { key: SigningKey; until: number } | undefined;
    for (const r of this.#retired.values()) if (r.until > now && (!fallback || r.until > fallback.until)) fallback = r;
    return fallback?.key;
  }

  recordUse(kid: string, expiresAt: number): void {
    const prev = this.#lastUse.get(kid);
    if (prev === undefined || prev < expiresAt) this.#lastUse.set(kid, expiresAt);
    // A retired key still signs as the fallback above: keep it published for its newest token too.
    const retired = this.#retired.get(kid);
    if (retired && retired.until < expiresAt) retired.until = expiresAt;
  }

  /** The published key set (a query: see {@link advance} for what changes it over time). */
  jwks(): PublishedJwks {
    return this.#jwks;
  }

  status(now = this.#clock()): KeyStoreStatus {
    const signing = this.#sorted.find((e) => e.activeFrom <= now);
    // Falls back to a retired key still signing while its in-place replacement waits (see currentSigningKey).
    const signingKid = this.currentSigningKey(now)?.kid;
    return {
      publishedKeys: this.#jwks.keys.length,
      signingKeys: this.#sorted.filter((e) => e.activeFrom <= now).length || (signingKid ? 1 : 0),
      signingKid,
      signingSince: signing ? (Number.isFinite(signing.activeFrom) ? signing.activeFrom : signing.firstSeen) : undefined,
      lastReloadAt: this.#lastReloadAt,
      lastReloadError: this.#lastReloadError,
      lastReloadDetail: this.#lastReloadDetail,
    };
  }

  /**
   * Applies what time changes: retired keys whose tokens have all expired leave the JWKS, and keys
   * waiting for their lead time or Not-Before start signing. Listeners are told when the signing key
   * or the published set changed. The key manager calls this at {@link nextChangeAt}.
   */
  advance(now = this.#clock()): void {
    let expired = false;
    for (const [kid, r] of this.#retired) {
      if (r.until <= now) {
        this.#retired.delete(kid);
        this.#lastUse.delete(kid);
        expired = true;
      }
    }
    if (expired) this.#rebuild();
    else if (this.currentSigningKey(now)?.kid !== this.#announcedSigningKid) this.#emit();
  }

  /** The next time {@link advance} has something to do (a key activates, a retired key expires), if any. */
  nextChangeAt(now = this.#clock()): number | undefined {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.#entries.values()) if (e.activeFrom > now && e.activeFrom < next) next = e.activeFrom;
    for (const r of this.#retired.values()) if (r.until > now && r.until < next) next = r.until;
    return Number.isFinite(next) ? next : undefined;
  }

  /** Calls `listener` after every reload attempt (success or failure) and when {@link advance} changed something. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #rebuild(): void {
    this.#sorted = [...this.#entries.values()].sort((a, b) => b.activeFrom - a.activeFrom || (a.key.kid < b.key.kid ? -1 : 1));
    const published = [...this.#sorted.map((e) => e.key), ...[...this.#retired.values()].map((r) => r.key)];
    this.#jwks = buildJwks(published.map((k) => k.publicJwk));
    this.#emit();
  }

  #emit(): void {
    this.#announcedSigningKid = this.currentSigningKey()?.kid;
    for (const l of this.#listeners) l();
  }
}

function buildJwks(keys: readonly Readonly<JWK>[]): PublishedJwks {
  const body = JSON.stringify({ keys });
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, etag, keys };
}
