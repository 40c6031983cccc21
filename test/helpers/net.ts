import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';

/** A free TCP port on loopback (bind to 0, read, release). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A test server listening on a free loopback port. */
export interface LoopbackServer {
  url: string;
  port: number;
  /** Closes the server and its open (keep-alive) connections. */
  close(): Promise<void>;
}

/** Makes `server` listen on 127.0.0.1, port 0 (the kernel picks a free one). */
export async function listenOnLoopback(server: HttpServer): Promise<LoopbackServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
