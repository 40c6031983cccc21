import { request, type RequestOptions } from 'node:https';
import type { Pem } from './certs.ts';

/** An OAuth endpoint's answer: status, headers and the JSON body (`{}` when empty). */
export interface FormAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/**
 * POSTs a form to authjwt's internal HTTPS listener over a fresh TLS connection (no agent: each call
 * its own handshake, so a client certificate is always presented anew), optionally with a client
 * certificate.
 */
export function postFormOverTls(
  port: number,
  ca: string,
  form: Record<string, string> | URLSearchParams,
  client?: Pem | null,
  path = '/token',
): Promise<FormAnswer> {
  const body = new URLSearchParams(form).toString();
  const options: RequestOptions = {
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    ca,
    servername: 'localhost',
    agent: false,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    ...(client ? { cert: client.cert, key: client.key } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}
