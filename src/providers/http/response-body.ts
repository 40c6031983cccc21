import { authJwtError } from '../../errors.ts';

/** Default cap on every provider response body (discovery, JWKS, introspection, userinfo, user API). */
export const MAX_PROVIDER_BODY_BYTES = 1024 * 1024;

const tooLarge = (maxBytes: number) => authJwtError('PROVIDER_RESPONSE_TOO_LARGE', { detail: `body over the ${maxBytes}-byte cap` });

/**
 * The same response with a body that errors (PROVIDER_RESPONSE_TOO_LARGE) past `maxBytes`, streamed:
 * a declared Content-Length over the cap is refused before reading; a chunked body is cut at the cap.
 * Libraries reading the body (openid-client, jose) get the error as the cause of their own.
 */
export function limitResponseBody(response: Response, maxBytes: number): Response {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    void response.body?.cancel().catch(() => undefined);
    throw tooLarge(maxBytes);
  }
  if (!response.body) return response;
  let seen = 0;
  const limited = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) controller.error(tooLarge(maxBytes));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new Response(limited, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** Parses a (capped) JSON body; garbage or oversize is a provider fault (UNAVAILABLE). */
export async function readJsonBody(response: Response): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw findResponseTooLarge(error) ?? authJwtError('PROVIDER_BAD_RESPONSE', { cause: error, detail: 'body could not be read' });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw authJwtError('PROVIDER_BAD_RESPONSE', { detail: 'invalid JSON' });
  }
}

/** The body-cap error somewhere in a library error's cause chain, if any. */
export function findResponseTooLarge(error: unknown): Error | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as { code?: string }).code === 'ERR_AUTHJWT_PROVIDER_RESPONSE_TOO_LARGE') return e;
  }
  return undefined;
}
