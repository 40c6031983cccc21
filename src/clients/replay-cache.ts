import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { createClient } from '@redis/client';
import { LRUCache } from 'lru-cache';
import { authJwtError } from '../errors.ts';
import type { ReplayCache } from './ports.ts';

/**
 * @redis/client, loaded when a Redis replay cache is built: it holds ~5 MB of heap once loaded, which every
 * full garbage collection would otherwise walk on instances that never use it (issue 24: GC pauses).
 */
const loadRedis = (): { createClient: typeof createClient } => createRequire(import.meta.url)('@redis/client');

const unavailable = (detail: string, cause?: unknown) => authJwtError('CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE', { detail, cause });

/**
 * A replay cache in this process only (`replayCache.store: memory`): correct for one replica; with
 * several, an assertion can be replayed once to each other replica (a start-up warning says so). It
 * never evicts an entry before it expires: when full of live entries, it refuses (fail closed).
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #entries: LRUCache<string, true>;
  readonly #max: number;
  readonly #clock: () => number;

  constructor(options: { maxEntries: number; clock?: () => number }) {
    this.#max = options.maxEntries;
    this.#clock = options.clock ?? Date.now;
    // Sized above the bound so that LRU eviction never happens: the bound is enforced below, by refusing.
    this.#entries = new LRUCache<string, true>({ max: options.maxEntries + 1, ttlResolution: 0, perf: { now: () => this.#clock() } });
  }

  async remember(key: string, expiresAt: number): Promise<boolean> {
    if (this.#entries.has(key)) return false;
    const ttl = Math.max(1, expiresAt - this.#clock());
    if (this.#entries.size >= this.#max) this.#entries.purgeStale();
    if (this.#entries.size >= this.#max) throw unavailable(`memory replay cache full (${this.#max} live entries)`);
    this.#entries.set(key, true, { ttl });
    return true;
  }

  up(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}

export interface RedisReplayCacheOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  /** PEM CA bundle for rediss://. */
  caFile?: string | undefined;
  keyPrefix: string;
  /** ms */
  connectTimeout: number;
  /** ms: bound on one SET, sent or not. */
  commandTimeout: number;
  /** Connection state changes and errors (logged, throttled by the caller). */
  onEvent?: (event: { kind: 'ready' | 'error' | 'reconnecting'; error?: string }) => void;
}

/**
 * The replay cache every replica shares (`replayCache.store: redis`): `SET <prefix><key> 1 NX PX
 * <ms to expiry>` records a key once, atomically, and Redis forgets it when it expires. Redis down, slow or
 * answering garbage → `CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE`: the assertion is refused, never accepted
 * unchecked. Commands are not queued while disconnected (they fail at once) and time out after
 * `commandTimeout` even once sent (then the key may or may not be set: the client signs a new assertion).
 */
export class RedisReplayCache implements ReplayCache {
  readonly #client: ReturnType<typeof createClient>;
  readonly #prefix: string;
  readonly #timeout: number;
  #ready = false;
  #closed = false;

  constructor(options: RedisReplayCacheOptions) {
    this.#prefix = options.keyPrefix;
    this.#timeout = options.commandTimeout;
    const tls = new URL(options.url).protocol === 'rediss:';
    this.#client = loadRedis().createClient({
      url: options.url,
      username: options.username,
      password: options.password,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.connectTimeout,
        // Reconnect forever, backing off to 2 s: requests fail fast meanwhile (offline queue disabled).
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2_000),
        ...(tls ? { tls: true as const, ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}) } : {}),
      },
      commandOptions: { timeout: options.commandTimeout, rejectInFlight: true },
    });
    this.#client.on('ready', () => {
      this.#ready = true;
      options.onEvent?.({ kind: 'ready' });
    });
    this.#client.on('end', () => {
      this.#ready = false;
    });
    this.#client.on('reconnecting', () => {
      this.#ready = false;
      options.onEvent?.({ kind: 'reconnecting' });
    });
    // Without a listener an 'error' event would crash the process.
    this.#client.on('error', (error: Error) => {
      this.#ready = false;
      options.onEvent?.({ kind: 'error', error: describe(error) });
    });
  }

  /** Connects in the background: the service starts without Redis; replay checks fail until it answers. */
  start(): void {
    this.#client.connect().catch(() => {
      /* reported through 'error'; the client keeps reconnecting */
    });
  }

  async remember(key: string, expiresAt: number, options: { signal?: AbortSignal | undefined } = {}): Promise<boolean> {
    if (this.#closed) throw unavailable('replay cache closed');
    if (!this.#ready) throw unavailable('redis not connected');
    let reply: unknown;
    try {
      const client = options.signal ? this.#client.withAbortSignal(options.signal) : this.#client;
      // PX (relative), not PXAT: the expiry must not depend on Redis's clock agreeing with ours.
      const ttl = Math.max(1, Math.ceil(expiresAt - Date.now()));
      reply = await client.set(`${this.#prefix}${key}`, '1', { NX: true, expiration: { type: 'PX', value: ttl } });
    } catch (error) {
      throw unavailable(`redis: ${describe(error)}`, error);
    }
    if (reply === 'OK') return true;
    if (reply === null) return false;
    throw unavailable('redis: unexpected reply to SET NX');
  }

  up(): boolean {
    return this.#ready;
  }

  /** The client's command timeout (ms), for logs. */
  get commandTimeout(): number {
    return this.#timeout;
  }

  async close(): Promise<void> {
    this.#closed = true;
    try {
      if (this.#client.isOpen) await this.#client.close();
      else this.#client.destroy();
    } catch {
      this.#client.destroy();
    }
  }
}

/** An error's class and code, never its message (which may quote a command argument). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return 'error';
  const code = (error as NodeJS.ErrnoException).code;
  return code ? `${error.name} ${code}` : error.name;
}
