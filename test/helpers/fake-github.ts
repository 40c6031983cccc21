/**
 * FAKE of GitHub's REST API shapes (we cannot reach api.github.com from tests): `GET /user` with a
 * Bearer token, `POST /applications/{client_id}/token` with the OAuth app's Basic credentials, and the
 * membership lookups `GET /user/orgs` and `GET /user/teams`, answering like GitHub does (200 with
 * user/app, 401, 404, 422, rate-limit 403; a lookup without the scope it needs → 403 with
 * `X-Accepted-OAuth-Scopes`; lists paginated with `per_page` and a `Link: rel="next"` header).
 * Not GitHub itself.
 *
 * Scopes (GitHub REST docs): `/user/orgs` needs `user` or `read:org`; `/user/teams` needs `user`, `repo`
 * or `read:org`. A token issued without `scopes` has what Auth.js's GitHub provider requests by
 * default: `read:user user:email` (no org access). Every answer to an OAuth app's or a classic PAT's
 * token carries `X-OAuth-Scopes` ("read:user, user:email"; empty without scopes); a token issued with
 * `fineGrained` (a fine-grained PAT or a GitHub App's token, which have permissions, not scopes) gets
 * none, as on GitHub ("Scopes for OAuth apps", REST docs).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './net.ts';

export interface FakeGitHubUser {
  id: number;
  login: string;
  name: string | null;
  email: string | null;
}

/** What Auth.js's GitHub provider asks for unless configured otherwise. */
export const DEFAULT_SCOPES = ['read:user', 'user:email'] as const;

/** Scopes that let a token call each lookup endpoint (any one of them). */
const ACCEPTED_SCOPES: Record<string, readonly string[]> = {
  '/user/orgs': ['user', 'read:org'],
  '/user/teams': ['user', 'repo', 'read:org'],
};

export interface FakeGitHub {
  url: string;
  /**
   * Registers `token` as issued to OAuth app `clientId` for `user`, with `scopes` (default {@link DEFAULT_SCOPES});
   * `fineGrained`: a token with permissions instead of scopes (no `X-OAuth-Scopes`, `scopes: []` at the token check).
   */
  issue(token: string, user: FakeGitHubUser, clientId: string, options?: { scopes?: readonly string[]; fineGrained?: boolean }): void;
  /** Revokes `token`: GitHub then answers 401 for it, as for a token the user or the app revoked. */
  revoke(token: string): void;
  /** Org logins and teams (`org/slug`) of a user, by user id; none by default. */
  memberships: Map<number, { orgs: readonly string[]; teams: readonly string[] }>;
  apps: Map<string, string>;
  /** Switch failure modes: 'ok' | '500' | 'garbage' | 'slow' | 'ratelimit'. */
  mode: 'ok' | '500' | 'garbage' | 'slow' | 'ratelimit';
  /** Answers these paths (e.g. `/user/orgs`) with this status and nothing else (a partial outage). */
  failing: Map<string, number>;
  /** Largest page GitHub hands out (it caps `per_page` at 100); lower it to exercise pagination. */
  maxPerPage: number;
  /** Extra latency for every answer (ms), e.g. to keep calls in flight. */
  delayMs: number;
  requests: { method: string; path: string }[];
  /** Requests whose path (without the query) is `path`. */
  count(path: string): number;
  close(): Promise<void>;
}

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const tokens = new Map<string, { user: FakeGitHubUser; clientId: string; scopes: readonly string[]; fineGrained: boolean }>();
  const state: FakeGitHub = {
    url: '',
    apps: new Map(),
    memberships: new Map(),
    mode: 'ok',
    failing: new Map(),
    maxPerPage: 100,
    delayMs: 0,
    requests: [],
    issue: (token, user, clientId, options = {}) =>
      void tokens.set(token, {
        user,
        clientId,
        scopes: options.fineGrained ? [] : (options.scopes ?? DEFAULT_SCOPES),
        fineGrained: options.fineGrained === true,
      }),
    revoke: (token) => void tokens.delete(token),
    count: (path) => state.requests.filter((r) => r.path.split('?')[0] === path).length,
    close: async () => {},
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = '';
      req.on('data', (c) => (s += c));
      req.on('end', () => resolve(s));
    });
  const tokenOf = (req: IncomingMessage) => {
    const m = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '');
    return m ? tokens.get(m[1]!) : undefined;
  };

  /** One page of a list, with GitHub's `Link` header (rel="next" and rel="last"). */
  const page = (res: ServerResponse, url: URL, items: readonly unknown[], scopes: readonly string[]) => {
    const perPage = Math.min(state.maxPerPage, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
    const current = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const at = (n: number) => {
      const u = new URL(url);
      u.searchParams.set('page', String(n));
      return `<${state.url}${u.pathname}${u.search}>`;
    };
    const links = current < last ? [`${at(current + 1)}; rel="next"`, `${at(last)}; rel="last"`] : [];
    json(res, 200, items.slice((current - 1) * perPage, current * perPage), {
      'x-oauth-scopes': scopes.join(', '),
      'x-ratelimit-remaining': '4999',
      ...(links.length ? { link: links.join(', ') } : {}),
    });
  };

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
    const failure = state.failing.get(url.pathname);
    if (failure) return json(res, failure, { message: failure >= 500 ? 'Server Error' : 'Failure' });
    if (req.method === 'GET' && url.pathname === '/user') {
      const t = tokenOf(req);
      if (!t) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      const scopeHeader: Record<string, string> = t.fineGrained ? {} : { 'x-oauth-scopes': t.scopes.join(', ') };
      return json(res, 200, { ...t.user, avatar_url: `https://avatars.example/u/${t.user.id}`, type: 'User' }, scopeHeader);
    }
    if (req.method === 'GET' && (url.pathname === '/user/orgs' || url.pathname === '/user/teams')) {
      const t = tokenOf(req);
      if (!t) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      const accepted = ACCEPTED_SCOPES[url.pathname]!;
      if (!t.scopes.some((s) => accepted.includes(s))) {
        return json(
          res,
          403,
          { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest', status: '403' },
          { 'x-oauth-scopes': t.scopes.join(', '), 'x-accepted-oauth-scopes': accepted.join(', '), 'x-ratelimit-remaining': '4999' },
        );
      }
      const member = state.memberships.get(t.user.id) ?? { orgs: [], teams: [] };
      const org = (login: string) => ({ login, id: orgId(login), url: `${state.url}/orgs/${login}`, description: null });
      if (url.pathname === '/user/orgs') return page(res, url, member.orgs.map(org), t.scopes);
      const teams = member.teams.map((t) => {
        const [o, slug] = t.split('/') as [string, string];
        return { id: orgId(t), slug, name: slug, privacy: 'closed', permission: 'pull', organization: org(o) };
      });
      return page(res, url, teams, t.scopes);
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
        scopes: t.scopes,
      });
    }
    json(res, 404, { message: 'Not Found' });
  });
  const listening = await listenOnLoopback(server);
  state.url = listening.url;
  state.close = listening.close;
  return state;
}

/** A stable numeric id for a name (GitHub ids are numbers). */
function orgId(name: string): number {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

/**
 * authjwt's provider entry for a fake GitHub: the `github` preset with its user API and REST base
 * (`apiBaseUrl`) pointed at the fake; `extra` adds or overrides (id, timeout, app credentials, rules).
 */
export function fakeGitHubProvider(gh: Pick<FakeGitHub, 'url'>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'github', type: 'oauth', preset: 'github', userinfoUrl: `${gh.url}/user`, apiBaseUrl: gh.url, ...extra };
}
