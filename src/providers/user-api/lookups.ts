import { authJwtError } from '../../errors.ts';
import { LOOKUP_FORBIDDEN, type CallOptions, type LookupName, type LookupResult } from '../../exchange/ports.ts';
import type { FetchFn } from '../http/provider-fetch.ts';
import { readJsonBody } from '../http/response-body.ts';
import { checkStatus, isRateLimited } from './status.ts';

/** Items kept per lookup (before they reach a policy expression) and pages read to get them. */
const MAX_LOOKUP_ITEMS = 200;
const MAX_PAGES = 3;

/** Where each lookup lives, relative to the provider's REST API base, and how an item becomes a string. */
const LOOKUPS: Record<LookupName, { path: string; item: (entry: Record<string, unknown>) => unknown }> = {
  // GET /user/orgs: organizations of the user (needs read:org for private memberships).
  'github.orgs': { path: 'user/orgs?per_page=100', item: (o) => o.login },
  // GET /user/teams: "org/team-slug" for every team of the user (needs read:org).
  'github.teams': {
    path: 'user/teams?per_page=100',
    item: (t) => {
      const org = (t.organization as Record<string, unknown> | null | undefined)?.login;
      return typeof org === 'string' && typeof t.slug === 'string' ? `${org}/${t.slug}` : undefined;
    },
  },
  // GET /groups?min_access_level=10: full paths of the groups the user is a member of (needs the read_api scope).
  'gitlab.groups': { path: 'groups?min_access_level=10&per_page=100', item: (g) => g.full_path },
};

/** The lookups a provider of this preset can offer, with their URLs. */
export function lookupsFor(preset: string | undefined, apiBaseUrl: string | undefined): Map<LookupName, string> {
  const out = new Map<LookupName, string>();
  if (!apiBaseUrl) return out;
  const base = apiBaseUrl.endsWith('/') ? apiBaseUrl : `${apiBaseUrl}/`;
  for (const [name, def] of Object.entries(LOOKUPS) as [LookupName, (typeof LOOKUPS)[LookupName]][]) {
    if (name.startsWith(`${preset}.`)) out.set(name, new URL(def.path, base).href);
  }
  return out;
}

/**
 * Reads a paginated list lookup with the user's token: at most 3 pages (`Link: rel="next"` on the same
 * origin only) and {@link MAX_LOOKUP_ITEMS} strings. 403/404 mean the token may not read it (missing
 * scope): {@link LOOKUP_FORBIDDEN}, which denies only when a policy needs it. Other failures throw
 * (the provider is down: UNAVAILABLE, not a denial).
 */
export async function fetchLookup(
  fetch: FetchFn,
  { name, url }: { name: LookupName; url: string },
  token: string,
  headers: Readonly<Record<string, string>>,
  options: CallOptions,
): Promise<LookupResult> {
  const def = LOOKUPS[name];
  const origin = new URL(url).origin;
  const items = new Set<string>();
  let next: string | undefined = url;
  for (let page = 0; next && page < MAX_PAGES && items.size < MAX_LOOKUP_ITEMS; page++) {
    const response: Response = await fetch(next, {
      method: 'GET',
      headers: { accept: 'application/json', ...headers, authorization: `Bearer ${token}` },
      signal: options.signal,
    });
    if (!isRateLimited(response) && (response.status === 403 || response.status === 404)) {
      await response.body?.cancel();
      return LOOKUP_FORBIDDEN;
    }
    await checkStatus(response, `lookup ${name}`, token);
    const body = await readJsonBody(response);
    if (!Array.isArray(body)) throw authJwtError('PROVIDER_BAD_RESPONSE', { detail: `lookup ${name}: not a list` });
    for (const entry of body) {
      if (entry === null || typeof entry !== 'object') continue;
      const value = def.item(entry as Record<string, unknown>);
      if (typeof value === 'string' && value.length > 0 && value.length <= 256) items.add(value);
      if (items.size >= MAX_LOOKUP_ITEMS) break;
    }
    next = nextPage(response.headers.get('link'), origin);
  }
  return [...items];
}

/** RFC 8288 `Link: <…>; rel="next"`, followed only on the same origin. */
function nextPage(link: string | null, origin: string): string | undefined {
  const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
  if (!m || !URL.canParse(m[1]!)) return undefined;
  const url = new URL(m[1]!);
  return url.origin === origin ? url.href : undefined;
}
