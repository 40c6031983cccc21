import type { LayoutServerLoad } from './$types';

// The one place a page request reads the session: runs the Auth.js `jwt` callback (refresh, re-mint).
export const load: LayoutServerLoad = async ({ locals }) => ({ session: await locals.auth() });
