import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ASYMMETRIC_JWS_ALGORITHMS } from '../../config/schema.ts';
import { authJwtError } from '../../errors.ts';
import { MAX_PROVIDER_BODY_BYTES } from '../http/response-body.ts';
import type { ClusterKeys } from './cluster-keys.ts';

/** How often the file's modification time is looked at (a ConfigMap update reaches the pod within ~1 min). */
const CHECK_INTERVAL_MS = 10_000;

export interface JwksFileOptions {
  path: string;
  /** Accepted JWS algorithms; undefined: every asymmetric algorithm (each key's `alg` still binds it). */
  algorithms: readonly string[] | undefined;
  /** Minimum ms between forced re-reads an unknown `kid` can trigger. */
  cooldown: number;
  clock?: () => number;
}

interface Loaded {
  jwks: JSONWebKeySet;
  keys: JWTVerifyGetKey;
  mtimeMs: number;
  size: number;
}

/**
 * The cluster's keys from a static JWKS file (kubernetes.jwksFile), for clusters that publish none:
 * read on first use, re-read when its modification time or size changes (checked at most every
 * 10 s) and — at most once per cooldown — when a token names a `kid` it does not have. A file that
 * becomes unreadable or invalid keeps the last good keys; without any it is
 * `PROVIDER_JWKS_FILE_INVALID` (UNAVAILABLE).
 */
export class JwksFileKeys implements ClusterKeys {
  readonly #options: JwksFileOptions;
  readonly #clock: () => number;
  #loaded: Loaded | undefined;
  #reading: Promise<Loaded> | undefined;
  #lastCheck = Number.NEGATIVE_INFINITY;
  #lastForced = Number.NEGATIVE_INFINITY;

  constructor(options: JwksFileOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  async current(): Promise<{ keys: JWTVerifyGetKey; algorithms: readonly string[] }> {
    await this.#refresh(false);
    return { keys: this.#resolver, algorithms: this.#options.algorithms ?? ASYMMETRIC_JWS_ALGORITHMS };
  }

  jwksUnusable(): boolean {
    const keys = (this.#loaded?.jwks.keys ?? []) as { kty?: string; use?: string }[];
    return !keys.some((k) => (k.use === undefined || k.use === 'sig') && ['RSA', 'EC', 'OKP'].includes(k.kty ?? ''));
  }

  async rediscoverFor(): Promise<undefined> {
    return undefined;
  }

  /** Resolves a key; on an unknown `kid`, re-reads the file once (rate-limited) and tries again. */
  readonly #resolver: JWTVerifyGetKey = async (header, token) => {
    try {
      return await this.#loaded!.keys(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || this.#clock() - this.#lastForced < this.#options.cooldown) throw error;
      this.#lastForced = this.#clock();
      await this.#refresh(true).catch(() => undefined);
      return this.#loaded!.keys(header, token);
    }
  };

  async #refresh(force: boolean): Promise<void> {
    const now = this.#clock();
    if (this.#loaded && !force && now - this.#lastCheck < CHECK_INTERVAL_MS) return;
    this.#lastCheck = now;
    // One read at a time, shared by concurrent callers.
    this.#reading ??= this.#read(force).finally(() => (this.#reading = undefined));
    try {
      this.#loaded = await this.#reading;
    } catch (error) {
      if (!this.#loaded) throw error;
      // A bad update keeps the last good keys (as the signing keys do).
    }
  }

  async #read(force: boolean): Promise<Loaded> {
    const path = this.#options.path;
    const invalid = (detail: string, cause?: unknown) =>
      authJwtError('PROVIDER_JWKS_FILE_INVALID', { cause, detail: `${path}: ${detail}` });
    let info: { mtimeMs: number; size: number };
    try {
      info = await stat(path);
    } catch (error) {
      throw invalid((error as NodeJS.ErrnoException).code ?? 'unreadable', error);
    }
    const loaded = this.#loaded;
    if (loaded && !force && loaded.mtimeMs === info.mtimeMs && loaded.size === info.size) return loaded;
    if (info.size > MAX_PROVIDER_BODY_BYTES) throw invalid(`larger than ${MAX_PROVIDER_BODY_BYTES} bytes`);
    let jwks: unknown;
    try {
      jwks = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw invalid(error instanceof SyntaxError ? 'not JSON' : ((error as NodeJS.ErrnoException).code ?? 'unreadable'), error);
    }
    const keys = (jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0) throw invalid('no "keys" list');
    let resolver: JWTVerifyGetKey;
    try {
      resolver = createLocalJWKSet(jwks as JSONWebKeySet);
    } catch (error) {
      throw invalid('not a JWKS', error);
    }
    return { jwks: jwks as JSONWebKeySet, keys: resolver, mtimeMs: info.mtimeMs, size: info.size };
  }
}
