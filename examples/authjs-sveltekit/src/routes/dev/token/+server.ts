import { error, json } from '@sveltejs/kit';
import { devSession } from '$lib/server/dev';
import type { RequestHandler } from './$types';

/** DEV ONLY: the session's minted token, so a test can verify it against authjwt's JWKS. */
export const GET: RequestHandler = async (event) => {
  const view = await devSession(event);
  if (!view.minted?.token) error(409, view.minted?.error ?? view.error ?? 'no minted token');
  return json({ token: view.minted.token });
};
