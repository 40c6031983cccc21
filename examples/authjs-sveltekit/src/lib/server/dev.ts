/**
 * DEVELOPMENT AND TESTS ONLY. The /dev/* routes exist for the repository's end-to-end test
 * (test/e2e/authjs-example.test.ts): they answer 404 unless AUTHJWT_EXAMPLE_DEV_ROUTES=true.
 * A real frontend never hands the minted token to the browser; its server uses it.
 */
import { error, type RequestEvent } from '@sveltejs/kit';
import { exampleConfig } from './config';
import type { ExchangeView } from './session';

export async function devSession(event: RequestEvent): Promise<ExchangeView> {
  if (!exampleConfig().devRoutes) error(404, 'Not Found');
  const session = await event.locals.auth();
  if (!session || !event.locals.exchange) error(401, 'not signed in');
  event.setHeaders({ 'cache-control': 'no-store' });
  return event.locals.exchange;
}
