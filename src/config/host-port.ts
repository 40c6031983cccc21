/** The one `host:port` parser (listen addresses): host may be a name, an IPv4 or a bracketed IPv6 address. */
export const HOST_PORT_PATTERN = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

export interface HostPort {
  /** Without IPv6 brackets, as `net.Server.listen` wants it. */
  host: string;
  port: number;
}

export function parseHostPort(listen: string): HostPort {
  const m = HOST_PORT_PATTERN.exec(listen);
  if (!m) throw new TypeError('not host:port');
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** `host:port` for logs, with IPv6 brackets restored. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
