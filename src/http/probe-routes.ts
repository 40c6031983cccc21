import { send } from './respond.ts';
import type { HttpRoute } from './router.ts';

export interface ProbeRoutesOptions {
  ready: () => { ready: boolean; checks: Record<string, unknown> };
  metrics?: (() => Promise<{ contentType: string; body: string }>) | undefined;
}

/** `/livez` (the process answers), `/readyz` (may serve: config, signing key, listeners), `/metrics`. */
export function createProbeRoutes(options: ProbeRoutesOptions): HttpRoute[] {
  const routes: HttpRoute[] = [
    {
      paths: ['/livez'],
      methods: ['GET'],
      handle: (req, res) => send(req, res, 200, 'text/plain; charset=utf-8', 'ok\n', { 'cache-control': 'no-store' }),
    },
    {
      paths: ['/readyz'],
      methods: ['GET'],
      handle(req, res) {
        const r = options.ready();
        send(req, res, r.ready ? 200 : 503, 'application/json', JSON.stringify({ status: r.ready ? 'ready' : 'not ready', ...r.checks }), {
          'cache-control': 'no-store',
        });
      },
    },
  ];
  const metrics = options.metrics;
  if (metrics) {
    routes.push({
      paths: ['/metrics'],
      methods: ['GET'],
      async handle(req, res) {
        const m = await metrics();
        send(req, res, 200, m.contentType, m.body, { 'cache-control': 'no-store' });
      },
    });
  }
  return routes;
}
