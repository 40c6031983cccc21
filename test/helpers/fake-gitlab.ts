/**
 * FAKE of GitLab's REST API v4 shapes (we cannot reach gitlab.com from tests): `GET /api/v4/user` and
 * `GET /api/v4/groups` (the groups the user is a member of with `min_access_level`), with a Bearer
 * token, answering like GitLab does: 401 `invalid_token`, 403 `insufficient_scope` for a token without
 * `read_api` or `api` at /groups (a `read_user` token may read /user only), lists paginated with
 * `per_page`, `Link: rel="next"` and `X-Next-Page`; and Doorkeeper's `GET /oauth/token/info` (the OAuth
 * token's `scope` array, `resource_owner_id`, `application.uid`, `expires_in_seconds`), which answers
 * 401 for a personal access token (`issue(…, {pat: true})`), as GitLab does. Not GitLab itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './net.ts';

export interface FakeGitLabUser {
  id: number;
  username: string;
  name: string;
  email: string;
}

export interface FakeGitLab {
  /** Base URL; the API lives under `${url}/api/v4`. */
  url: string;
  /** Registers `token` for `user` with `scopes` (default `read_user`, what a sign-in-only app asks for). */
  issue(token: string, user: FakeGitLabUser, options?: { scopes?: readonly string[]; pat?: boolean }): void;
  /** Group full paths (`acme`, `acme/platform`) a user is a member of, by user id. */
  groups: Map<number, readonly string[]>;
  /** Largest page handed out (GitLab caps `per_page` at 100). */
  maxPerPage: number;
  /** Answers these paths (e.g. `/api/v4/groups`) with this status (a partial outage). */
  failing: Map<string, number>;
  requests: { method: string; path: string }[];
  /** Requests whose path (without the query) is `path`. */
  count(path: string): number;
  close(): Promise<void>;
}

const READ_SCOPES: Record<string, readonly string[]> = {
  '/api/v4/user': ['read_user', 'read_api', 'api'],
  '/api/v4/groups': ['read_api', 'api'],
};

export async function startFakeGitLab(): Promise<FakeGitLab> {
  const tokens = new Map<string, { user: FakeGitLabUser; scopes: readonly string[]; pat: boolean }>();
  const state: FakeGitLab = {
    url: '',
    groups: new Map(),
    maxPerPage: 100,
    failing: new Map(),
    requests: [],
    issue: (token, user, options = {}) =>
      void tokens.set(token, { user, scopes: options.scopes ?? ['read_user'], pat: options.pat === true }),
    count: (path) => state.requests.filter((r) => r.path.split('?')[0] === path).length,
    close: async () => {},
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const tokenOf = (req: IncomingMessage) => {
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    return m ? tokens.get(m[1]!) : undefined;
  };

  const server: Server = createServer((req, res) => {
    state.requests.push({ method: req.method ?? '', path: req.url ?? '' });
    const url = new URL(req.url ?? '/', 'http://x');
    const failure = state.failing.get(url.pathname);
    if (failure) return json(res, failure, { message: failure >= 500 ? '500 Internal Server Error' : 'Failure' });
    if (req.method === 'GET' && url.pathname === '/oauth/token/info') {
      const t = tokenOf(req);
      if (!t || t.pat) return json(res, 401, { error: 'invalid_token', error_description: 'The access token is invalid' });
      return json(res, 200, {
        resource_owner_id: t.user.id,
        scope: t.scopes,
        expires_in_seconds: 7200,
        application: { uid: 'fake-gitlab-app' },
        created_at: Math.floor(Date.now() / 1000),
      });
    }
    const accepted = READ_SCOPES[url.pathname];
    if (req.method !== 'GET' || !accepted) return json(res, 404, { error: '404 Not Found' });
    const t = tokenOf(req);
    if (!t) {
      return json(
        res,
        401,
        { error: 'invalid_token', error_description: 'Token is expired. You can either do re-authorization or token refresh.' },
        { 'www-authenticate': 'Bearer realm="Protected by OAuth 2.0", error="invalid_token"' },
      );
    }
    if (!t.scopes.some((s) => accepted.includes(s))) {
      return json(
        res,
        403,
        {
          error: 'insufficient_scope',
          error_description: 'The request requires higher privileges than provided by the access token.',
          scope: accepted.join(' '),
        },
        { 'www-authenticate': `Bearer realm="Protected by OAuth 2.0", error="insufficient_scope", scope="${accepted.join(' ')}"` },
      );
    }
    if (url.pathname === '/api/v4/user') {
      return json(res, 200, { ...t.user, state: 'active', avatar_url: null, web_url: `${state.url}/${t.user.username}` });
    }
    const all = (state.groups.get(t.user.id) ?? []).map((fullPath, i) => ({
      id: 100 + i,
      name: fullPath.split('/').at(-1),
      path: fullPath.split('/').at(-1),
      full_name: fullPath.split('/').join(' / '),
      full_path: fullPath,
      visibility: 'private',
      parent_id: null,
    }));
    const perPage = Math.min(state.maxPerPage, Math.max(1, Number(url.searchParams.get('per_page') ?? 20) || 20));
    const current = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const headers: Record<string, string> = {
      'x-page': String(current),
      'x-per-page': String(perPage),
      'x-total': String(all.length),
      'x-total-pages': String(last),
    };
    if (current < last) {
      const next = new URL(`${state.url}${url.pathname}${url.search}`);
      next.searchParams.set('page', String(current + 1));
      headers['x-next-page'] = String(current + 1);
      headers.link = `<${next.href}>; rel="next"`;
    }
    json(res, 200, all.slice((current - 1) * perPage, current * perPage), headers);
  });
  const listening = await listenOnLoopback(server);
  state.url = listening.url;
  state.close = listening.close;
  return state;
}
