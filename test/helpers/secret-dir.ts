/** Test helper: a directory laid out like a Kubernetes Secret volume, and the key files it holds. */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `files` as a new Secret revision and swaps `..data` atomically, like the kubelet. */
export function writeSecretRevision(dir: string, files: Record<string, string>, revision: number): void {
  const rev = `..2026_11_27_10_00_${String(revision).padStart(2, '0')}.${revision}`;
  mkdirSync(join(dir, rev));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, rev, name), content, { mode: 0o400 });
  symlinkSync(rev, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('.') && !(name in files)) rmSync(join(dir, name));
  }
  for (const name of Object.keys(files)) {
    try {
      symlinkSync(join('..data', name), join(dir, name));
    } catch {
      /* link exists */
    }
  }
}

/** A fresh private key as a PKCS#8 PEM file holds it (a Secret's signing key): EC P-256 unless named. */
export function privateKeyPem(kind: 'P-256' | 'P-384' | 'ed25519' | 'rsa' = 'P-256'): string {
  const { privateKey } =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: kind });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}
