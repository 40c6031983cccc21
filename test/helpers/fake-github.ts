/**
 * FAKE of GitHub's REST API shapes (we cannot reach api.github.com from tests): `GET /user` with a
 * Bearer token, and `POST /applications/{client_id}/token` with the OAuth app's Basic credentials,
 * answering like GitHub does (200 with user/app, 401, 404, 422, rate-limit 403). Not GitHub itself.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGitHubUser {
  id: number;
  login: string;
  name: string | null;
  email: string | null;
}

export interface FakeGitHub {
  url: string;
  /** Registers `token` as issued to OAuth app `clientId` for `user`. */
  issue(token: string, user: FakeGitHubUser, clientId: string): void;
  apps: Map<string, string>;
  /** Switch failure modes: 'ok' | '500' | 'garbage' | 'slow' | 'ratelimit'. */
  mode: 'ok' | '500' | 'garbage' | 'slow' | 'ratelimit';
  /** Extra latency for every answer (ms), e.g. to keep calls in flight. */
  delayMs: number;
  requests: { method: string; path: string }[];
  close(): Promise<void>;
}

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const tokens = new Map<string, { user: FakeGitHubUser; clientId: string }>();
  const state: FakeGitHub = {
    url: '',
    apps: new Map(),
    mode: 'ok',
    delayMs: 0,
    requests: [],
    issue: (token, user, clientId) => void tokens.set(token, { user, clientId }),
    close: async () => {},
  };
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = '';
      req.on('data', (c) => (s += c));
      req.on('end', () => resolve(s));
    });
  const server: Server = createServer(async (req, res) => {
    state.requests.push({ method: req.method ?? '', path: req.url ?? '' });
    if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
    if (state.mode === 'slow') await new Promise((r) => setTimeout(r, 3_000));
    if (state.mode === '500') return json(res, 500, { message: 'Server Error' });
    if (state.mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"id": 1, "login": ');
    }
    if (state.mode === 'ratelimit') return json(res, 403, { message: 'API rate limit exceeded' }, { 'x-ratelimit-remaining': '0' });
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/user') {
      const m = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '');
      const t = m ? tokens.get(m[1]!) : undefined;
      if (!t) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      return json(res, 200, { ...t.user, avatar_url: `https://avatars.example/u/${t.user.id}`, type: 'User' });
    }
    const app = /^\/applications\/([^/]+)\/token$/.exec(url.pathname);
    if (req.method === 'POST' && app) {
      const clientId = decodeURIComponent(app[1]!);
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const [id, secret] = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':') : [];
      if (id !== clientId || state.apps.get(clientId) !== secret) return json(res, 401, { message: 'Bad credentials' });
      let body: { access_token?: string };
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        return json(res, 400, { message: 'Problems parsing JSON' });
      }
      if (!body.access_token) return json(res, 422, { message: 'Validation Failed' });
      const t = tokens.get(body.access_token);
      if (!t || t.clientId !== clientId) return json(res, 404, { message: 'Not Found' });
      return json(res, 200, {
        id: 1,
        token: body.access_token,
        app: { client_id: clientId, name: 'test app' },
        user: t.user,
        expires_at: null,
        scopes: [],
      });
    }
    json(res, 404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return state;
}
