import type { IncomingMessage, ServerResponse } from 'node:http';
import { send } from './respond.ts';
import type { HttpHandler } from './server.ts';

export interface HttpRoute {
  /** Exact paths served. */
  paths: readonly string[];
  /** Path prefixes served (each ends with "/"), after exact paths; the first matching route wins. */
  prefixes?: readonly string[] | undefined;
  /** Methods served (HEAD implied by GET); others get 405 with Allow. */
  methods: readonly string[];
  handle(req: IncomingMessage, res: ServerResponse, path: string): void | Promise<void>;
}

/** Exact-path (then prefix) routing; 404 for unknown paths, 405 for known paths with another method, 500 (fixed text) for a throw. */
export function createRouter(routes: readonly HttpRoute[]): HttpHandler {
  const byPath = new Map<string, HttpRoute>();
  for (const route of routes) for (const path of route.paths) if (!byPath.has(path)) byPath.set(path, route);
  const byPrefix = routes.flatMap((route) => (route.prefixes ?? []).map((prefix) => ({ prefix, route })));
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = byPath.get(path) ?? byPrefix.find((p) => path.startsWith(p.prefix))?.route;
    try {
      if (!route) return send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
      const methods = route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods;
      if (!methods.includes(req.method ?? '')) {
        res.writeHead(405, { allow: methods.join(', ') }).end();
        return;
      }
      await route.handle(req, res, path);
    } catch {
      if (!res.headersSent) send(req, res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  };
}
