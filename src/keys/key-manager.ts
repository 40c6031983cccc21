import { exportJWK, generateKeyPair } from 'jose';
import type { Config } from '../config/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import { parseKeyFile } from './key-file.ts';
import { KeyStore } from './key-store.ts';
import { SecretDirKeySource } from './secret-dir-key-source.ts';

export interface KeyReloadObserver {
  onKeyReload?(result: 'success' | 'failure' | 'unchanged'): void;
}

export interface KeyManager {
  store: KeyStore;
  /** Re-reads the key directory now (also runs on file events and every reloadInterval). */
  reload(): Promise<void>;
  close(): void;
}

/**
 * Builds the keyring from config (the Secret directory, watched, or a development-only ephemeral
 * key) and keeps it current: reloads on file events and every `reloadInterval`, and wakes the store
 * exactly when time changes it (a waiting key activates, a retired key's tokens all expire), so
 * readiness and JWKS follow events instead of polling.
 */
export async function createKeyManager(config: Config['keys'], logger: Logger, observer: KeyReloadObserver = {}): Promise<KeyManager> {
  const store = new KeyStore({ publishLeadTime: config.publishLeadTime });
  let wakeTimer: NodeJS.Timeout | undefined;
  const scheduleWake = () => {
    clearTimeout(wakeTimer);
    const at = store.nextChangeAt();
    if (at === undefined) return;
    // setTimeout caps at ~24.8 days; a later change is re-scheduled when this one fires.
    wakeTimer = setTimeout(
      () => {
        store.advance();
        scheduleWake();
      },
      Math.min(Math.max(0, at - Date.now()) + 5, 2 ** 31 - 1),
    );
    wakeTimer.unref();
  };
  store.onChange(scheduleWake);

  if (config.ephemeral) {
    const alg = config.ephemeralAlgorithm;
    const { privateKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {}),
    });
    store.replaceKeys(await parseKeyFile('ephemeral', JSON.stringify({ ...(await exportJWK(privateKey)), alg })));
    logger.warn({ kid: store.status().signingKid, alg }, 'EPHEMERAL SIGNING KEY generated — development only; do not use in production');
    return { store, reload: async () => {}, close: () => clearTimeout(wakeTimer) };
  }

  const source = new SecretDirKeySource(config.dir!);
  // The signing key also changes without a reload (a new key's lead time or Not-Before passes): log
  // every change after the first key, so each replica's switch shows in its log with its time.
  let loggedSigningKid: string | undefined;
  store.onChange(() => {
    const { signingKid } = store.status();
    if (signingKid === loggedSigningKid) return;
    if (loggedSigningKid !== undefined)
      logger.info({ signingKid: signingKid ?? null, previousSigningKid: loggedSigningKid }, 'signing key changed');
    loggedSigningKid = signingKid;
  });
  const reloadOnce = async () => {
    const outcome = await source.load();
    observer.onKeyReload?.(outcome.result);
    if (outcome.result === 'success') {
      const before = new Set(store.jwks().keys.map((k) => k.kid));
      store.replaceKeys(outcome.keys);
      const after = store.status();
      logger.info(
        {
          dir: source.dir,
          kids: outcome.keys.map((k) => k.kid),
          added: outcome.keys.filter((k) => !before.has(k.kid)).map((k) => k.kid),
          ignoredFiles: outcome.ignored,
          signingKid: after.signingKid,
          publishedKeys: after.publishedKeys,
        },
        'signing keys loaded',
      );
      if (outcome.worldReadable.length) {
        logger.warn(
          { dir: source.dir, files: outcome.worldReadable },
          'private key files are readable by any user on the node: mount the Secret with defaultMode 0400 (Helm keys.defaultMode)',
        );
      }
    } else if (outcome.result === 'failure') {
      const code = (outcome.error as { code?: string }).code;
      store.recordReloadFailure(
        typeof code === 'string' && code.startsWith('ERR_AUTHJWT_') ? code : 'ERR_AUTHJWT_KEYS_UNREADABLE',
        outcome.error.message,
      );
      // The same failure is logged once; every attempt is still counted in the reload metric.
      if (!outcome.repeated) {
        // Before the first good load there is no keyring to keep: say so (readiness is NOT_SERVING).
        const hasKeyring = store.status().lastReloadAt !== undefined;
        logger.error(
          { dir: source.dir, err: { code, message: outcome.error.message } },
          hasKeyring
            ? 'key reload failed; keeping the last good keyring'
            : 'key load failed; no signing key until the key directory loads (NOT_SERVING)',
        );
      }
    }
  };
  // Serialise reloads: requests during a reload coalesce into exactly one more.
  let running: Promise<void> | undefined;
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
  const stopWatching = source.watch(config.reloadInterval, () => void reload());
  return {
    store,
    reload,
    close: () => {
      stopWatching();
      clearTimeout(wakeTimer);
    },
  };
}
