import { exampleConfig } from '$lib/server/config';
import { revokeUpstream } from '$lib/server/session';
import { signOut } from '../../auth';
import type { Actions } from './$types';

export const actions: Actions = {
  // Auth.js's signOut only deletes its cookie. Revoke the Keycloak refresh token first, so that the
  // provider session of this app ends too (see docs/authjs.md, "Lifetimes and revocation").
  default: async (event) => {
    await event.locals.auth(); // runs the jwt callback: event.locals.exchange
    await revokeUpstream(exampleConfig(), event.locals.exchange?.upstream).catch((error: Error) =>
      console.warn(`sign-out: provider token revocation failed: ${error.message}`),
    );
    return signOut(event);
  },
};
