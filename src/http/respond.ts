import type { IncomingMessage, ServerResponse } from 'node:http';

/** Writes a complete response (no body for HEAD), with `nosniff` on everything. */
export function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * RFC 9110 §13.1.2 If-None-Match: weak comparison, a list of entity tags, or `*`. True when the
 * client's copy is current (answer 304).
 */
export function notModified(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const ours = opaque(etag);
  return header.split(',').some((candidate) => opaque(candidate) === ours);
}

/** A strong entity tag from content. */
export function entityTag(digest: string): string {
  return `"${digest}"`;
}
