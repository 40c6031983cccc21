import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isIgnorableKeyFile, KeyFileError, parseKeyFile, type SigningKey } from './key-file.ts';

export type ReloadResult =
  | { result: 'unchanged' }
  | {
      result: 'success';
      keys: SigningKey[];
      ignored: string[];
      /** Key files any user on the node may read (mode o+r): still loaded, but worth a warning. */
      worldReadable: string[];
    }
  /** `repeated`: the same failure as the previous attempt (same broken content or same error), so callers log it once. */
  | { result: 'failure'; error: Error; repeated: boolean };

/**
 * Reads every private key in a directory mounted from a Kubernetes Secret. Handles the Secret volume
 * layout (`name -> ..data/name`, `..data -> ..<timestamp>` swapped atomically): dot-entries are
 * skipped and symlinks followed. A reload is all-or-nothing: one unreadable or invalid file, or a
 * duplicate kid, fails the whole reload so the caller keeps its last good keyring.
 */
export class SecretDirKeySource {
  readonly #dir: string;
  #lastDigest: string | undefined;
  /** The last failure and what caused it (content digest or error text): the same failure is reported once. */
  #lastFailure: { cause: string; error: Error } | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  get dir(): string {
    return this.#dir;
  }

  async load(): Promise<ReloadResult> {
    try {
      const names = (await readdir(this.#dir)).filter((n) => !n.startsWith('.')).sort();
      const files: { name: string; content: string; mode: number }[] = [];
      for (const name of names) {
        const path = join(this.#dir, name);
        let content: string;
        let mode: number;
        try {
          const info = await stat(path); // follows the Secret's symlinks
          if (!info.isFile()) continue;
          if (info.size > 64 * 1024) throw new KeyFileError('KEYS_FILE_TOO_LARGE', `${name}: larger than 64 KiB`);
          content = await readFile(path, 'utf8');
          mode = info.mode;
        } catch (error) {
          // A link left dangling by a Secret update (the kubelet removes it right after the swap).
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw error;
        }
        files.push({ name, content, mode });
      }
      const digest = files
        .reduce((h, f) => h.update(f.name).update('\0').update(f.content).update('\0'), createHash('sha256'))
        .digest('hex');
      if (digest === this.#lastDigest) return { result: 'unchanged' };
      if (digest === this.#lastFailure?.cause) return { result: 'failure', error: this.#lastFailure.error, repeated: true };
      const keys: SigningKey[] = [];
      const ignored: string[] = [];
      try {
        for (const f of files) {
          if (isIgnorableKeyFile(f.name, f.content)) {
            ignored.push(f.name);
            continue;
          }
          keys.push(...(await parseKeyFile(f.name, f.content)));
        }
        const kids = new Set<string>();
        for (const k of keys) {
          if (kids.has(k.kid)) throw new KeyFileError('KEYS_DUPLICATE_KID', `kid ${k.kid} appears twice (${k.source})`);
          kids.add(k.kid);
        }
        if (keys.length === 0) throw new KeyFileError('KEYS_NO_KEYS', `no private key found in ${this.#dir}`);
      } catch (error) {
        // Remember the broken content: the same files fail the same way, so they are reported once;
        // any change (a fix) has another digest and is parsed again.
        this.#lastDigest = undefined;
        this.#lastFailure = { cause: digest, error: error as Error };
        return { result: 'failure', error: error as Error, repeated: false };
      }
      this.#lastDigest = digest;
      this.#lastFailure = undefined;
      const worldReadable = files.filter((f) => (f.mode & 0o004) !== 0 && !ignored.includes(f.name)).map((f) => f.name);
      return { result: 'success', keys, ignored, worldReadable };
    } catch (error) {
      // Unreadable directory or file: report a new error once, the same error again only as repeated.
      const cause = `${(error as NodeJS.ErrnoException).code ?? ''}:${(error as Error).message}`;
      const repeated = this.#lastFailure?.cause === cause;
      this.#lastDigest = undefined;
      this.#lastFailure = { cause, error: error as Error };
      return { result: 'failure', error: error as Error, repeated };
    }
  }

  /**
   * Watches the directory (file-system events, debounced) and polls every `intervalMs` as a fallback
   * (events are not delivered on every volume type). Returns a stop function.
   */
  watch(intervalMs: number, onTick: () => void): () => void {
    let debounce: NodeJS.Timeout | undefined;
    const trigger = () => {
      clearTimeout(debounce);
      debounce = setTimeout(onTick, 100);
    };
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.#dir, { persistent: false }, trigger);
      watcher.on('error', () => watcher?.close());
    } catch {
      watcher = undefined; // polling still covers it
    }
    const timer = setInterval(onTick, intervalMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      clearTimeout(debounce);
      watcher?.close();
    };
  }
}
