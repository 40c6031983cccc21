/**
 * Provider URLs must be https, except loopback hosts (development and tests) and providers that opt
 * in with `allowHttp: true`. URLs come only from configuration: a token's `iss` is never followed.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function isHttpAllowed(url: URL, allowHttp: boolean): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && (allowHttp || isLoopbackHost(url.hostname));
}

/** A URL as it may appear in messages: never its user name or password. */
export function displayUrl(value: string): string {
  const url = new URL(value);
  if (!url.username && !url.password) return value;
  url.username = '';
  url.password = '';
  return url.href;
}
