/**
 * Memory load generator (its own process): sends COUNT GetJWT calls, each with a DISTINCT JWT access
 * token signed with the bench OIDC provider's key (valid for that provider), so every call is a
 * verification-cache miss and a new cache entry. Prints progress lines "flood N" on stdout.
 * Usage: node test/bench/flood.ts --target HOST:PORT --count N --concurrency C --jwk FILE --issuer URL --provider ID
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { importJWK, SignJWT } from 'jose';
import { loadAuthProto } from '../../src/grpc/proto.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    count: { type: 'string' },
    concurrency: { type: 'string' },
    jwk: { type: 'string' },
    issuer: { type: 'string' },
    provider: { type: 'string' },
  },
});
const jwk = JSON.parse(readFileSync(values.jwk!, 'utf8'));
const key = await importJWK(jwk, jwk.alg);
const proto = loadAuthProto();
const client = new proto.auth.v1alpha1.AuthAPI(values.target!, credentials.createInsecure());
const count = Number(values.count);
let next = 0;
let done = 0;
const codes: Record<number, number> = {};
const now = Math.floor(Date.now() / 1000);
async function worker() {
  while (next < count) {
    const i = next++;
    const sub = `flood-${i}`;
    const token = await new SignJWT({ sub, azp: 'frontend', client_id: 'frontend', scope: 'api' })
      .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'at+jwt' })
      .setIssuer(values.issuer!)
      .setAudience('https://api.internal.test')
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(key);
    const code = await new Promise<number>((resolve) =>
      client.GetJWT(
        { account: { provider: values.provider, type: 'oidc', providerAccountId: sub, accessToken: token } },
        new Metadata(),
        { deadline: Date.now() + 30_000 },
        (e) => resolve(e ? e.code : 0),
      ),
    );
    codes[code] = (codes[code] ?? 0) + 1;
    if (++done % 50_000 === 0) console.log(`flood ${done}`);
  }
}
await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
console.log(`flood done ${JSON.stringify(codes)}`);
client.close();
