/**
 * The API-server client: authjwt's service-account token goes to the configured API server and
 * nowhere else, is re-read as kubelet rotates it, and a refusal by the API server is authjwt's
 * configuration problem (UNAVAILABLE), never the caller's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthJwtError } from '../../../../src/errors.ts';
import { createApiServerFetch } from '../../../../src/providers/kubernetes/api-server-fetch.ts';
import type { FetchFn } from '../../../../src/providers/http/provider-fetch.ts';

const API = 'http://127.0.0.1:6443';

function client(files: Record<string, string>, answer: (url: string, auth: string | null) => number, clock = () => 0) {
  const seen: { url: string; auth: string | null }[] = [];
  const fetch: FetchFn = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const auth = new Headers(init?.headers).get('authorization');
    seen.push({ url, auth });
    return new Response('{}', { status: answer(url, auth) });
  };
  const reads: string[] = [];
  const apiFetch = createApiServerFetch({
    apiServer: API,
    tokenFile: '/sa/token',
    caFile: '/sa/ca.crt',
    fetch,
    clock,
    readFile: async (path) => {
      reads.push(path);
      if (!(path in files)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return Buffer.from(files[path]!);
    },
    transport: { provider: 'k8s', timeoutMs: 1_000, endpointOf: () => 'other' },
  });
  return { apiFetch, seen, reads };
}

describe('createApiServerFetch', () => {
  it('never sends the token to another origin (a discovery document cannot redirect it)', async () => {
    const { apiFetch, seen } = client({ '/sa/token': 'sa-token' }, () => 200);
    for (const url of ['https://127.0.0.1:6443/openid/v1/jwks', 'http://127.0.0.1:6444/x', 'http://evil.example/openid/v1/jwks']) {
      await assert.rejects(apiFetch(url), (e: AuthJwtError) => e.kind === 'unavailable', url);
    }
    assert.equal(seen.length, 0);
  });

  it('sends the token as Bearer, trimmed of its newline, re-read every minute', async () => {
    let now = 0;
    const files = { '/sa/token': 'first\n' };
    const { apiFetch, seen } = client(
      files,
      () => 200,
      () => now,
    );
    await apiFetch(`${API}/openid/v1/jwks`);
    files['/sa/token'] = 'second\n';
    await apiFetch(`${API}/openid/v1/jwks`);
    now += 60_000;
    await apiFetch(`${API}/openid/v1/jwks`);
    assert.deepEqual(
      seen.map((s) => s.auth),
      ['Bearer first', 'Bearer first', 'Bearer second'],
    );
  });

  it('401 → PROVIDER_KUBERNETES_FORBIDDEN, and the token is re-read for the next call; 403 → the same', async () => {
    const files = { '/sa/token': 'old' };
    const { apiFetch, seen } = client(files, (_u, auth) => (auth === 'Bearer new' ? 200 : auth === 'Bearer old' ? 401 : 403));
    await assert.rejects(
      apiFetch(`${API}/x`),
      (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_PROVIDER_KUBERNETES_FORBIDDEN' && e.kind === 'unavailable',
    );
    files['/sa/token'] = 'new';
    assert.equal((await apiFetch(`${API}/x`)).status, 200);
    assert.deepEqual(
      seen.map((c) => c.auth),
      ['Bearer old', 'Bearer new'],
    );
    const rbac = client({ '/sa/token': 'valid' }, () => 403);
    await assert.rejects(rbac.apiFetch(`${API}/x`), (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_PROVIDER_KUBERNETES_FORBIDDEN');
  });

  it('an unreadable or empty token file → PROVIDER_CREDENTIALS_UNREADABLE (UNAVAILABLE), nothing sent', async () => {
    for (const files of [{}, { '/sa/token': '\n' }] as Record<string, string>[]) {
      const { apiFetch, seen } = client(files, () => 200);
      await assert.rejects(
        apiFetch(`${API}/x`),
        (e: AuthJwtError) => e.code === 'ERR_AUTHJWT_PROVIDER_CREDENTIALS_UNREADABLE' && e.kind === 'unavailable',
      );
      assert.equal(seen.length, 0);
    }
  });
});
