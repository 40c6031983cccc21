import { json } from '@sveltejs/kit';
import { devSession } from '$lib/server/dev';
import type { RequestHandler } from './$types';

/** DEV ONLY: refresh the provider token now (as if it were about to expire) and mint again. */
export const POST: RequestHandler = async (event) => {
  event.locals.forceRefresh = true;
  const view = await devSession(event);
  return json({ refreshes: view.refreshes, error: view.error ?? view.minted?.error ?? null, claims: view.minted?.claims ?? null });
};
