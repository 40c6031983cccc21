/**
 * Auth.js for SvelteKit with Keycloak. The `jwt` callback exchanges the signed-in account for an
 * authjwt token (src/lib/server/session.ts); the default `session` callback exposes only the user's
 * name/email/image to the browser.
 */
import { SvelteKitAuth } from '@auth/sveltekit';
import Keycloak from '@auth/sveltekit/providers/keycloak';
import { exampleConfig } from '$lib/server/config';
import { exchangeView, keepFresh, startSession } from '$lib/server/session';

export const { handle, signIn, signOut } = SvelteKitAuth(async (event) => {
  const config = exampleConfig();
  return {
    providers: [
      Keycloak({
        issuer: config.keycloak.issuer,
        clientId: config.keycloak.clientId,
        clientSecret: config.keycloak.clientSecret,
        // Default scopes "openid profile email": the access token then carries sub, email and
        // preferred_username, which authjwt copies into the minted token.
      }),
    ],
    session: { strategy: 'jwt' },
    // @auth/sveltekit defaults trustHost to `dev` (false in a build), ignoring AUTH_TRUST_HOST.
    // adapter-node builds request URLs from ORIGIN (required by this example), not from the Host header.
    trustHost: true,
    callbacks: {
      async jwt({ token, account }) {
        const next = account
          ? await startSession(config, token, account)
          : await keepFresh(config, token, { force: config.devRoutes && event.locals.forceRefresh === true });
        event.locals.exchange = exchangeView(next);
        return next;
      },
    },
  };
});
