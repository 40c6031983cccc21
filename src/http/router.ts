import type { IncomingMessage, ServerResponse } from 'node:http';
import { send } from './respond.ts';
import type { HttpHandler } from './server.ts';

export interface HttpRoute {
  /** Exact paths served. */
  paths: readonly string[];
  /** Methods served (HEAD implied by GET); others get 405 with Allow. */
  methods: readonly string[];
  handle(req: IncomingMessage, res: ServerResponse, path: string): void | Promise<void>;
}

/** Exact-path routing; 404 for unknown paths, 405 for known paths with another method, 500 (fixed text) for a throw. */
export function createRouter(routes: readonly HttpRoute[]): HttpHandler {
  const byPath = new Map<string, HttpRoute>();
  for (const route of routes) for (const path of route.paths) if (!byPath.has(path)) byPath.set(path, route);
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = byPath.get(path);
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
