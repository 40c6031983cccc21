/**
 * Test PKI made with the openssl CLI at test time (never committed): CAs, server certificates and
 * client certificates with SANs (SPIFFE IDs), a subject, the clientAuth purpose and, when asked, a
 * validity window in the past (`openssl ca -startdate/-enddate`: an expired certificate).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

const run = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A self-signed P-256 CA in `dir` as `<name>.crt` / `<name>.key`. */
export function makeCa(dir: string, name: string): Pem {
  run(
    dir,
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-subj',
    `/CN=${name}`,
    '-days',
    '2',
  );
  return pem(dir, name);
}

/**
 * A P-256 certificate signed by `ca`: `san` as in openssl (`URI:spiffe://…,DNS:…`), `usage` serverAuth or
 * clientAuth, `subject` (`/O=acme/CN=x`). `validity`: openssl dates (`YYYYMMDDHHMMSSZ`) for a window other
 * than now..+1 day.
 */
export function makeCert(
  dir: string,
  ca: string,
  name: string,
  options: { san: string; usage: 'serverAuth' | 'clientAuth'; subject?: string; validity?: { start: string; end: string } },
): Pem {
  const ext = `subjectAltName=${options.san}\nextendedKeyUsage=${options.usage}\nbasicConstraints=CA:FALSE\n`;
  writeFileSync(join(dir, `${name}.ext`), ext);
  run(
    dir,
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    options.subject ?? `/CN=${name}`,
  );
  if (!options.validity) {
    run(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    );
    return pem(dir, name);
  }
  // `openssl x509 -req` (OpenSSL 3.0) cannot backdate: `openssl ca` can, with a minimal database.
  const db = join(dir, `${name}-ca`);
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), '1000\n');
  writeFileSync(
    join(db, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `dir = ${db}`,
      'database = $dir/index.txt',
      'serial = $dir/serial',
      'new_certs_dir = $dir',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'copy_extensions = none',
      '[any]',
      'commonName = supplied',
      'organizationName = optional',
    ].join('\n'),
  );
  run(
    dir,
    'ca',
    '-batch',
    '-config',
    join(db, 'ca.cnf'),
    '-cert',
    `${ca}.crt`,
    '-keyfile',
    `${ca}.key`,
    '-in',
    `${name}.csr`,
    '-out',
    `${name}.crt`,
    '-startdate',
    options.validity.start,
    '-enddate',
    options.validity.end,
    '-extfile',
    `${name}.ext`,
    '-notext',
  );
  return pem(dir, name);
}

function pem(dir: string, name: string): Pem {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}
