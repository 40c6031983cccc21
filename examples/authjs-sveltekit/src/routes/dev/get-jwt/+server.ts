import { error, json } from '@sveltejs/kit';
import { exampleConfig } from '$lib/server/config';
import { devSession } from '$lib/server/dev';
import { decodeClaims, getJwt } from '$lib/server/authjwt';
import type { RequestHandler } from './$types';

/**
 * DEV ONLY: call GetJWT with this session's provider access token but ANOTHER provider_account_id
 * (body: {"providerAccountId": "..."}), to show that authjwt refuses a token that does not prove the
 * claimed account. Answers the gRPC status; the access token never leaves the server.
 */
export const POST: RequestHandler = async (event) => {
  const view = await devSession(event);
  if (!event.request.headers.get('content-type')?.startsWith('application/json')) error(415, 'send application/json');
  const { providerAccountId } = (await event.request.json()) as { providerAccountId?: unknown };
  if (typeof providerAccountId !== 'string' || !providerAccountId) error(400, 'providerAccountId (string) is required');
  if (!view.upstream) error(409, 'no provider token in this session');
  const result = await getJwt(exampleConfig().authjwt, { ...view.upstream.account, providerAccountId });
  return json(result.ok ? { code: 'OK', claims: decodeClaims(result.token) } : { code: result.code, details: result.details });
};
