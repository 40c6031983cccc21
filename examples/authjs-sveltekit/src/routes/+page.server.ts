import type { PageServerLoad } from './$types';

/** The minted token's claims (not the token itself) for display; everything else stays on the server. */
export const load: PageServerLoad = async ({ parent, locals }) => {
  const { session } = await parent(); // after the layout's locals.auth(), locals.exchange is current
  const view = session ? locals.exchange : undefined;
  return {
    claims: view?.minted?.claims ?? null,
    mintError: view?.minted?.error ?? null,
    sessionError: view?.error ?? null,
    refreshes: view?.refreshes ?? 0,
    providerTokenExpiresAt: view?.upstream?.expiresAt ?? null,
  };
};
