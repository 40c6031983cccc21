/**
 * Micro-benchmark of one JWS signature with node:crypto (issue 24): the KeyObject passed as is versus an
 * options object (`{ key, dsaEncoding }`), which node:crypto prepares again on every call. CPU µs per
 * signature (process.cpuUsage), median of 5 rounds of 5,000, per key type.
 * Usage: node test/bench/sign.ts
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { derToJoseSignature } from '../../src/keys/jwt-signer.ts';

const data = Buffer.from('x'.repeat(400));
const cpuUs = (fn: () => unknown, n = 5_000) => {
  for (let i = 0; i < 500; i++) fn();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const used = process.cpuUsage(before);
    rounds.push((used.user + used.system) / n);
  }
  return rounds.sort((a, b) => a - b)[2]!.toFixed(1);
};
const ec: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const ed: KeyObject = generateKeyPairSync('ed25519').privateKey;
const rows: [string, () => unknown][] = [
  ['ES256, { key, dsaEncoding: ieee-p1363 } (before)', () => sign('sha256', data, { key: ec, dsaEncoding: 'ieee-p1363' })],
  ['ES256, KeyObject + DER → r‖s in JS (now)', () => derToJoseSignature(sign('sha256', data, ec), 32)],
  ['EdDSA, KeyObject', () => sign(null, data, ed)],
];
for (const [name, fn] of rows) console.log(`${name}: ${cpuUs(fn)} µs`);
