import { generateKeyPair, exportJWK } from 'jose';
import type { Config } from '../config/load.ts';
import type { Logger } from '../telemetry/logger.ts';
import { parseKeyFile } from './key-file.ts';
import { KeyStore } from './key-store.ts';
import { SecretDirKeySource } from './secret-dir-key-source.ts';

export { KeyStore } from './key-store.ts';
export { CompactJwtSigner, type Signer } from './jwt-signer.ts';

export interface KeyReloadObserver {
  onReload?(result: 'success' | 'failure' | 'unchanged'): void;
}

export interface KeyManager {
  store: KeyStore;
  /** Re-reads the key directory now (also runs on file events and every reloadInterval). */
  reload(): Promise<void>;
  close(): void;
}

/** Builds the keyring from config: the Secret directory (watched) or a dev-only ephemeral key. */
export async function createKeyManager(config: Config['keys'], logger: Logger, observer: KeyReloadObserver = {}): Promise<KeyManager> {
  const store = new KeyStore({ publishLeadTime: config.publishLeadTime });
  if (config.ephemeral) {
    const { privateKey } = await generateKeyPair(config.ephemeralAlgorithm, { extractable: true, ...(config.ephemeralAlgorithm.startsWith('RS') || config.ephemeralAlgorithm.startsWith('PS') ? { modulusLength: 2048 } : {}) });
    const jwk = await exportJWK(privateKey);
    store.replaceKeys(await parseKeyFile('ephemeral', JSON.stringify({ ...jwk, alg: config.ephemeralAlgorithm })));
    logger.warn({ kid: store.status().signingKid, alg: config.ephemeralAlgorithm }, 'EPHEMERAL SIGNING KEY generated — development only; do not use in production');
    return { store, reload: async () => {}, close: () => {} };
  }
  const source = new SecretDirKeySource(config.dir!);
  let running: Promise<void> | undefined;
  const reloadOnce = async () => {
    const outcome = await source.load();
    observer.onReload?.(outcome.result);
    if (outcome.result === 'success') {
      const before = new Set(store.jwks().keys.map((k) => k.kid));
      store.replaceKeys(outcome.keys);
      const after = store.status();
      logger.info(
        { dir: source.dir, kids: outcome.keys.map((k) => k.kid), added: outcome.keys.filter((k) => !before.has(k.kid)).map((k) => k.kid), ignoredFiles: outcome.ignored, signingKid: after.signingKid, publishedKeys: after.publishedKeys },
        'signing keys loaded',
      );
    } else if (outcome.result === 'failure') {
      store.recordReloadFailure(outcome.error.message);
      logger.error({ dir: source.dir, err: { code: (outcome.error as { code?: string }).code, message: outcome.error.message } }, 'key reload failed; keeping the last good keyring');
    }
  };
  // Serialise reloads: requests during a reload coalesce into exactly one more.
  let queued: Promise<void> | undefined;
  const reload = (): Promise<void> => {
    if (running) {
      queued ??= running.then(() => {
        queued = undefined;
        return reload();
      });
      return queued;
    }
    running = reloadOnce().finally(() => (running = undefined));
    return running;
  };
  await reload();
  const stop = source.watch(config.reloadInterval, () => void reload());
  return { store, reload, close: stop };
}
