import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isIgnorableKeyFile, KeyFileError, parseKeyFile, type SigningKey } from './key-file.ts';

export type ReloadResult =
  | { result: 'unchanged' }
  | { result: 'success'; keys: SigningKey[]; ignored: string[] }
  | { result: 'failure'; error: Error };

/**
 * Reads every private key in a directory mounted from a Kubernetes Secret. Handles the Secret volume
 * layout (`name -> ..data/name`, `..data -> ..<timestamp>` swapped atomically): dot-entries are
 * skipped and symlinks followed. A reload is all-or-nothing: one unreadable or invalid file, or a
 * duplicate kid, fails the whole reload so the caller keeps its last good keyring.
 */
export class SecretDirKeySource {
  readonly #dir: string;
  #lastDigest: string | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  get dir(): string {
    return this.#dir;
  }

  async load(): Promise<ReloadResult> {
    try {
      const names = (await readdir(this.#dir)).filter((n) => !n.startsWith('.')).sort();
      const files: { name: string; content: string }[] = [];
      for (const name of names) {
        const path = join(this.#dir, name);
        let content: string;
        try {
          const info = await stat(path); // follows the Secret's symlinks
          if (!info.isFile()) continue;
          if (info.size > 64 * 1024) throw new KeyFileError('FILE_TOO_LARGE', `${name}: larger than 64 KiB`);
          content = await readFile(path, 'utf8');
        } catch (error) {
          // A link left dangling by a Secret update (the kubelet removes it right after the swap).
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw error;
        }
        files.push({ name, content });
      }
      const digest = files.reduce((h, f) => h.update(f.name).update('\0').update(f.content).update('\0'), createHash('sha256')).digest('hex');
      if (digest === this.#lastDigest) return { result: 'unchanged' };
      const keys: SigningKey[] = [];
      const ignored: string[] = [];
      for (const f of files) {
        if (isIgnorableKeyFile(f.name, f.content)) {
          ignored.push(f.name);
          continue;
        }
        keys.push(...(await parseKeyFile(f.name, f.content)));
      }
      const kids = new Set<string>();
      for (const k of keys) {
        if (kids.has(k.kid)) throw new KeyFileError('DUPLICATE_KID', `kid ${k.kid} appears twice (${k.source})`);
        kids.add(k.kid);
      }
      if (keys.length === 0) throw new KeyFileError('NO_KEYS', `no private key found in ${this.#dir}`);
      this.#lastDigest = digest;
      return { result: 'success', keys, ignored };
    } catch (error) {
      // Forget the digest so the same broken content is reported again and a fix is picked up.
      this.#lastDigest = undefined;
      return { result: 'failure', error: error as Error };
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
