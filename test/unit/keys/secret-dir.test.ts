/**
 * Keys read from a real Kubernetes Secret volume layout (`..<timestamp>/` files, `..data` symlink,
 * `name -> ..data/name` links) and hot-reloaded through kubelet-style atomic updates. A bad update
 * keeps the last good keyring; reload logs never carry key material.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { buildConfig, type Config } from '../../../src/config/load.ts';
import { createKeyManager, type KeyManager } from '../../../src/keys/key-manager.ts';
import { parseKeyFile } from '../../../src/keys/key-file.ts';
import { SecretDirKeySource } from '../../../src/keys/secret-dir-key-source.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGUgbm90IGEga2V5\n-----END CERTIFICATE-----\n';
const ecPem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const kidOf = async (content: string) => (await parseKeyFile('k', content))[0]!.kid;

/**
 * A Secret volume written the way the kubelet's AtomicWriter does it: files go into a fresh
 * `..<timestamp>` directory, a `..data_tmp` symlink to it is renamed over `..data` (the atomic swap),
 * then links for new names are added, links for removed names deleted, and the old directory removed.
 */
class SecretVolume {
  readonly dir: string;
  #revision = 0;
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'authjwt-secret-'));
  }

  write(files: Record<string, string>): void {
    this.#revision++;
    const ts = `..2026_11_27_10_00_00.${String(this.#revision).padStart(9, '0')}`;
    const previous = existsSync(join(this.dir, '..data')) ? readlinkSync(join(this.dir, '..data')) : undefined;
    mkdirSync(join(this.dir, ts));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, ts, name), content, { mode: 0o400 });
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      if (!existsSync(join(this.dir, name))) symlinkSync(join('..data', name), join(this.dir, name));
    }
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith('.') && !(name in files)) unlinkSync(join(this.dir, name));
    }
    if (previous) rmSync(join(this.dir, previous), { recursive: true, force: true });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function keysConfig(dir: string): Config['keys'] {
  return buildConfig({
    issuer: 'https://authjwt.example',
    audience: 'internal-services',
    keys: { dir, reloadInterval: '100ms', publishLeadTime: 0 },
    providers: [{ id: 'gh', preset: 'github' }],
  }).keys;
}

function logSink() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination: sink as never }) };
}

describe('SecretDirKeySource', () => {
  const volumes: SecretVolume[] = [];
  const volume = (files: Record<string, string>) => {
    const v = new SecretVolume();
    volumes.push(v);
    v.write(files);
    return v;
  };
  after(() => {
    for (const v of volumes) v.remove();
  });

  it('fails on an empty directory (NO_KEYS)', async () => {
    const outcome = await new SecretDirKeySource(volume({}).dir).load();
    assert.equal(outcome.result, 'failure');
    assert.ok(outcome.result === 'failure');
    assert.equal((outcome.error as { code?: string }).code, 'ERR_AUTHJWT_KEYS_NO_KEYS');
  });

  it('fails on a directory holding only certificates (NO_KEYS)', async () => {
    const outcome = await new SecretDirKeySource(volume({ 'tls.crt': CERT, 'ca.crt': CERT }).dir).load();
    assert.ok(outcome.result === 'failure');
    assert.equal((outcome.error as { code?: string }).code, 'ERR_AUTHJWT_KEYS_NO_KEYS');
  });

  it('fails when the directory does not exist', async () => {
    const outcome = await new SecretDirKeySource(join(tmpdir(), 'authjwt-no-such-dir-7f3e')).load();
    assert.ok(outcome.result === 'failure');
    assert.equal((outcome.error as { code?: string }).code, 'ENOENT');
  });

  it('fails the whole reload on one corrupt file, naming it', async () => {
    const outcome = await new SecretDirKeySource(volume({ 'good.pem': ecPem(), 'bad.pem': ecPem().slice(0, 100) }).dir).load();
    assert.ok(outcome.result === 'failure');
    assert.equal((outcome.error as { code?: string }).code, 'ERR_AUTHJWT_KEYS_FILE_INVALID');
    assert.match(outcome.error.message, /^bad\.pem: /);
  });

  it('fails on the same key in two files (DUPLICATE_KID)', async () => {
    const pem = ecPem();
    const outcome = await new SecretDirKeySource(volume({ 'a.pem': pem, 'b.pem': pem }).dir).load();
    assert.ok(outcome.result === 'failure');
    assert.equal((outcome.error as { code?: string }).code, 'ERR_AUTHJWT_KEYS_DUPLICATE_KID');
  });

  it('fails on a file larger than 64 KiB (FILE_TOO_LARGE)', async () => {
    const outcome = await new SecretDirKeySource(volume({ 'key.pem': ecPem(), 'huge.pem': 'x'.repeat(64 * 1024 + 1) }).dir).load();
    assert.ok(outcome.result === 'failure');
    assert.equal((outcome.error as { code?: string }).code, 'ERR_AUTHJWT_KEYS_FILE_TOO_LARGE');
  });

  it('loads the keys through the symlinks, ignoring dot-files, the kubelet entries, a tls.crt and subdirectories', async () => {
    const pem = ecPem();
    const v = volume({ 'key.pem': pem, 'tls.crt': CERT });
    writeFileSync(join(v.dir, '.hidden.pem'), 'garbage that would fail the reload if read');
    mkdirSync(join(v.dir, 'nested'));
    writeFileSync(join(v.dir, 'nested', 'other.pem'), 'garbage');
    const outcome = await new SecretDirKeySource(v.dir).load();
    assert.ok(outcome.result === 'success', outcome.result === 'failure' ? outcome.error.message : outcome.result);
    assert.deepEqual(
      outcome.keys.map((k) => [k.kid, k.source]),
      [[await kidOf(pem), 'key.pem']],
    );
    assert.deepEqual(outcome.ignored, ['tls.crt']);
  });

  it('skips a link left dangling mid-update (the kubelet removes it right after the swap)', async () => {
    const pem = ecPem();
    const v = volume({ 'key.pem': pem });
    symlinkSync(join('..data', 'old.pem'), join(v.dir, 'old.pem'));
    const outcome = await new SecretDirKeySource(v.dir).load();
    assert.ok(outcome.result === 'success', outcome.result === 'failure' ? outcome.error.message : outcome.result);
    assert.deepEqual(
      outcome.keys.map((k) => k.kid),
      [await kidOf(pem)],
    );
  });

  it('answers unchanged when the content did not change, and reports a failure again until fixed', async () => {
    const pem = ecPem();
    const v = volume({ 'key.pem': pem });
    const source = new SecretDirKeySource(v.dir);
    assert.equal((await source.load()).result, 'success');
    assert.equal((await source.load()).result, 'unchanged');
    v.write({ 'key.pem': pem }); // new revision, same content
    assert.equal((await source.load()).result, 'unchanged');
    v.write({ 'key.pem': 'garbage' });
    assert.equal((await source.load()).result, 'failure');
    assert.equal((await source.load()).result, 'failure');
    v.write({ 'key.pem': pem });
    assert.equal((await source.load()).result, 'success', 'the previous content after a failure is a change for the keyring');
  });
});

describe('createKeyManager over a Secret volume (hot reload)', () => {
  const pem1 = ecPem();
  const pem2 = ecPem();
  const pem3 = ecPem();
  let kid1: string, kid2: string, kid3: string;
  let volume: SecretVolume;
  let manager: KeyManager;
  const outcomes: string[] = [];
  const sink = logSink();
  const kids = () =>
    manager.store
      .jwks()
      .keys.map((k) => k.kid)
      .sort();
  const failures = () => outcomes.filter((o) => o === 'failure').length;

  before(async () => {
    [kid1, kid2, kid3] = await Promise.all([kidOf(pem1), kidOf(pem2), kidOf(pem3)]);
    volume = new SecretVolume();
    volume.write({ 'key-1.pem': pem1, 'tls.crt': CERT });
    writeFileSync(join(volume.dir, '.keep'), 'not a key');
    manager = await createKeyManager(keysConfig(volume.dir), sink.logger, { onKeyReload: (r) => outcomes.push(r) });
  });
  after(() => {
    manager?.close();
    volume?.remove();
  });

  it('loads the initial key, ignoring the certificate and dot-files', () => {
    assert.deepEqual(kids(), [kid1]);
    assert.equal(manager.store.currentSigningKey()?.kid, kid1);
    const status = manager.store.status();
    assert.equal(status.lastReloadError, undefined);
    assert.equal(typeof status.lastReloadAt, 'number');
    const loaded = sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'signing keys loaded');
    assert.ok(loaded, 'a "signing keys loaded" log line');
    assert.deepEqual(loaded.kids, [kid1]);
    assert.deepEqual(loaded.ignoredFiles, ['tls.crt']);
  });

  it('publishes a key added by an atomic Secret update without a restart', async () => {
    volume.write({ 'key-1.pem': pem1, 'key-2.pem': pem2, 'tls.crt': CERT });
    await waitFor(() => kids().length === 2, { what: 'the second key in jwks()' });
    assert.deepEqual(kids(), [kid1, kid2].sort());
    // publishLeadTime is 0 here: the newest key signs once published.
    assert.equal(manager.store.currentSigningKey()?.kid, kid2);
  });

  it('keeps the last good keyring when an update contains a corrupt key file', async () => {
    const before = { jwks: manager.store.jwks(), signing: manager.store.currentSigningKey()?.kid };
    const failuresBefore = failures();
    // broken.pem first: its link is created before key-3's, so no reload can see key-3 without it.
    volume.write({ 'broken.pem': pem3.slice(0, 90), 'key-1.pem': pem1, 'key-2.pem': pem2, 'key-3.pem': pem3, 'tls.crt': CERT });
    await waitFor(() => failures() > failuresBefore && manager.store.status().lastReloadError !== undefined, { what: 'a failed reload' });
    assert.match(manager.store.status().lastReloadDetail!, /^broken\.pem: /);
    assert.equal(manager.store.status().lastReloadError, 'ERR_AUTHJWT_KEYS_FILE_INVALID', '/readyz shows the code only');
    assert.equal(manager.store.jwks().etag, before.jwks.etag);
    assert.deepEqual(kids(), [kid1, kid2].sort(), 'key-3 from the rejected update is not published');
    assert.equal(manager.store.currentSigningKey()?.kid, before.signing);
  });

  it('recovers when the corrupt file is fixed', async () => {
    volume.write({ 'key-1.pem': pem1, 'key-2.pem': pem2, 'key-3.pem': pem3, 'tls.crt': CERT });
    await waitFor(() => kids().length === 3 && manager.store.status().lastReloadError === undefined, { what: 'the fixed keyring' });
    assert.deepEqual(kids(), [kid1, kid2, kid3].sort());
  });

  it('keeps the previous keys when an update empties the directory (NO_KEYS)', async () => {
    // Down to one key first: a reload straddling the kubelet's swap may legitimately read a file from
    // the old revision and skip the ones already unlinked; with one key that view equals the old one.
    volume.write({ 'key-1.pem': pem1, 'tls.crt': CERT });
    await waitFor(() => kids().length === 1, { what: 'the keyring down to key-1' });
    assert.deepEqual(kids(), [kid1], 'removed keys that never signed are unpublished at once');
    const before = { etag: manager.store.jwks().etag, signing: manager.store.currentSigningKey()?.kid };
    assert.equal(before.signing, kid1);
    const failuresBefore = failures();
    volume.write({ 'tls.crt': CERT });
    await waitFor(() => failures() > failuresBefore && /no private key found/.test(manager.store.status().lastReloadDetail ?? ''), {
      what: 'the NO_KEYS failure',
    });
    assert.equal(manager.store.jwks().etag, before.etag);
    assert.equal(manager.store.currentSigningKey()?.kid, before.signing);
    const failed = sink.lines
      .map((l) => JSON.parse(l) as { msg: string; err?: { code?: string } })
      .filter((l) => l.msg === 'key reload failed; keeping the last good keyring');
    assert.equal(failed.at(-1)?.err?.code, 'ERR_AUTHJWT_KEYS_NO_KEYS');
  });
});

describe('key reload logs', () => {
  let volume: SecretVolume;
  let manager: KeyManager;
  after(() => {
    manager?.close();
    volume?.remove();
  });

  it('never contain a private key: neither a JWK "d" nor a PEM body, on success or failure', async () => {
    const secrets: string[] = [];
    // Body lines of a PEM (the short last line is left out: too short to be a meaningful match).
    const pemBody = (pem: string) => pem.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
    const pem = ecPem();
    secrets.push(...pemBody(pem));
    const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    secrets.push(...pemBody(rsaPem));
    const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    secrets.push(jwk.d!);
    const mismatched = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    secrets.push(mismatched.d!);
    const wrongD = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), d: mismatched.d };
    const truncated = ecPem();
    secrets.push(...pemBody(truncated));

    volume = new SecretVolume();
    volume.write({ 'a.pem': pem, 'b.pem': rsaPem, 'c.json': JSON.stringify({ ...jwk, kid: 'ed-1' }) });
    const sink = logSink();
    manager = await createKeyManager(keysConfig(volume.dir), sink.logger);
    assert.equal(manager.store.jwks().keys.length, 3);

    // Each bad update fails differently; wait for each failure to be logged.
    const badFiles: Record<string, string> = {
      'alg.json': JSON.stringify({ ...mismatched, alg: 'ES384' }),
      'pair.json': JSON.stringify(wrongD),
      'cut.pem': truncated.slice(0, truncated.length - 60),
      'notjson.json': `{ "d": "${jwk.d}", `,
    };
    for (const [name, content] of Object.entries(badFiles)) {
      volume.write({ 'a.pem': pem, [name]: content });
      await waitFor(() => manager.store.status().lastReloadDetail?.startsWith(`${name}: `) === true, { what: `the failure for ${name}` });
    }
    volume.write({ 'a.pem': pem });
    await waitFor(() => manager.store.jwks().keys.length === 1, { what: 'the final good update' });

    const logs = sink.lines.join('');
    assert.ok(logs.includes('key reload failed; keeping the last good keyring'));
    assert.ok(logs.includes('signing keys loaded'));
    assert.ok(secrets.length > 20);
    for (const s of secrets) assert.ok(!logs.includes(s), `a log line contains private key material (${s.slice(0, 6)}…)`);
  });
});

describe('a failed key reload is logged once (issue 13, point 8)', () => {
  let volume: SecretVolume;
  let manager: KeyManager;
  after(() => {
    manager?.close();
    volume?.remove();
  });

  it('the same failure at every reload interval gives one log line (every attempt still counted); a new failure and the fix are logged', async () => {
    const good = ecPem();
    volume = new SecretVolume();
    volume.write({ 'a.pem': good });
    const sink = logSink();
    const outcomes: string[] = [];
    manager = await createKeyManager(keysConfig(volume.dir), sink.logger, { onKeyReload: (r) => outcomes.push(r) });
    const failedLines = () =>
      sink.lines
        .map((l) => JSON.parse(l) as { msg: string; err?: { code?: string } })
        .filter((l) => l.msg === 'key reload failed; keeping the last good keyring');
    const failures = () => outcomes.filter((o) => o === 'failure').length;

    volume.write({ 'a.pem': good, 'broken.pem': '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n' });
    // reloadInterval is 100 ms: wait for several failed attempts of the same broken content.
    await waitFor(() => failures() >= 5, { what: 'five failed reloads', timeout: 10_000 });
    assert.equal(failedLines().length, 1, 'one line for one failure, however often it is retried');
    assert.equal(failedLines()[0]!.err?.code, 'ERR_AUTHJWT_KEYS_FILE_INVALID');

    volume.write({ 'a.pem': good, 'b.pem': good });
    await waitFor(() => failedLines().length === 2, { what: 'the log line of a different failure' });
    assert.equal(failedLines()[1]!.err?.code, 'ERR_AUTHJWT_KEYS_DUPLICATE_KID');
    const before = failures();
    await waitFor(() => failures() >= before + 3, { what: 'more failed reloads', timeout: 10_000 });
    assert.equal(failedLines().length, 2);

    volume.write({ 'a.pem': good });
    await waitFor(() => manager.store.status().lastReloadError === undefined, { what: 'recovery' });
  });
});

describe('what the log says about the keyring (issue 20: found on a real cluster)', () => {
  let volume: SecretVolume;
  let manager: KeyManager;
  after(() => {
    manager?.close();
    volume?.remove();
  });
  const messages = (sink: ReturnType<typeof logSink>) =>
    sink.lines.map((l) => JSON.parse(l) as { msg: string; signingKid?: string; previousSigningKid?: string; err?: { code?: string } });

  it('regression: a FIRST load that fails does not claim to keep a "last good keyring" it never had', async () => {
    volume = new SecretVolume();
    volume.write({ 'broken.pem': '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n' });
    const sink = logSink();
    manager = await createKeyManager(keysConfig(volume.dir), sink.logger);
    assert.equal(manager.store.currentSigningKey(), undefined);
    const failed = messages(sink).filter((l) => l.err);
    assert.deepEqual(
      failed.map((l) => l.msg),
      ['key load failed; no signing key until the key directory loads (NOT_SERVING)'],
    );
    assert.equal(failed[0]!.err?.code, 'ERR_AUTHJWT_KEYS_FILE_INVALID');

    // Once a good key arrives, a later failure does keep it, and says so.
    const good = ecPem();
    volume.write({ 'a.pem': good });
    await waitFor(() => manager.store.currentSigningKey() !== undefined, { what: 'the good key' });
    volume.write({ 'a.pem': good, 'broken.pem': 'not a key' });
    await waitFor(() => messages(sink).some((l) => l.msg === 'key reload failed; keeping the last good keyring'), {
      what: 'the reload failure',
    });
    assert.equal(manager.store.currentSigningKey()?.kid, await kidOf(good));
  });

  it('logs each change of the signing key, including one that only time makes (a new key past its lead time)', async () => {
    manager?.close();
    volume?.remove();
    const [first, second] = [ecPem(), ecPem()];
    volume = new SecretVolume();
    volume.write({ 'a.pem': first });
    const sink = logSink();
    const config = buildConfig({
      issuer: 'https://authjwt.example',
      audience: 'internal-services',
      keys: { dir: volume.dir, reloadInterval: '100ms', publishLeadTime: '400ms' },
      providers: [{ id: 'gh', preset: 'github' }],
    }).keys;
    manager = await createKeyManager(config, sink.logger);
    assert.ok(!messages(sink).some((l) => l.msg === 'signing key changed'), 'the first key is announced by "signing keys loaded" only');
    volume.write({ 'a.pem': first, 'b.pem': second });
    await waitFor(() => manager.store.jwks().keys.length === 2, { what: 'the second key published' });
    assert.equal(manager.store.currentSigningKey()?.kid, await kidOf(first), 'published, not yet signing');
    const changed = await waitFor(() => messages(sink).find((l) => l.msg === 'signing key changed'), {
      what: 'the switch',
      timeout: 5_000,
    });
    assert.equal(changed.signingKid, await kidOf(second));
    assert.equal(changed.previousSigningKid, await kidOf(first));
  });
});
