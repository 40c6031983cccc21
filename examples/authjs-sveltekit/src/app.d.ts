import type { ExchangeView } from '$lib/server/session';

declare global {
  namespace App {
    interface Locals {
      /** Set by the Auth.js `jwt` callback whenever `locals.auth()` finds a session. Server-only. */
      exchange?: ExchangeView;
      /** Set by the dev-only /dev/refresh route before it reads the session. */
      forceRefresh?: boolean;
    }
  }
}

export {};
