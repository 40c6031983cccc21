import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ClientAuthenticator, ClientCredentials, PresentedCertificate } from '../clients/ports.ts';
import { authJwtError } from '../errors.ts';
import { ANONYMOUS_CALLER, type Caller } from '../exchange/ports.ts';
import type { BearerInput, ExchangeOptions, ExchangeResult } from '../exchange/token-exchange.ts';
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, REFRESH_TOKEN_TYPE, SELF_SIGNED_TOKEN_TYPE } from '../exchange/token-types.ts';
import { beginExchangeReport, type ExchangeEvent, type TxnReport } from '../telemetry/exchange-events.ts';
import { failureBody, toOAuthError } from './http-errors.ts';
import { requestSignal } from './request-signal.ts';
import { send } from './respond.ts';
import type { HttpRoute } from './router.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Largest accepted request body: a maximal subject token (16 KiB) percent-encoded, with room to spare. */
const MAX_BODY_BYTES = 64 * 1024;
/** The only parameters RFC 8693 lets a client send more than once. */
const REPEATABLE = new Set(['audience', 'resource']);
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const DEFAULT_SUBJECT_TOKEN_TYPES: readonly string[] = [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE];

/** What a profile beyond plain RFC 8693 reads from the request (Transaction Tokens: scope, request_details…). */
interface TokenRequestExtras {
  subjectTokenType: string;
  /** RFC 6749 §3.3 `scope`, as sent (only for a handler listing it in `parameters`). */
  scope: string | undefined;
  /** draft-ietf-oauth-transaction-tokens `request_details` / `request_context`, as sent (JSON text). */
  requestDetails: string | undefined;
  requestContext: string | undefined;
  /** An RFC 8707 `resource` was sent (its values are in the input's `audience`). */
  resourceSent: boolean;
  /** The peer address the request was observed from. */
  remoteAddress: string | undefined;
}

/** A successful exchange, with what a Transaction Token adds for logs, spans and metrics. */
type TokenEndpointResult = Omit<ExchangeResult, 'strategy'> & { strategy: string; txn?: TxnReport | undefined };

/**
 * How one `requested_token_type` is answered: the exchange that mints it, the `issued_token_type` and
 * `token_type` it reports, the subject token types and extra parameters it accepts. Access tokens by
 * default; Transaction Tokens (src/txn-tokens/door.ts) are one more entry of
 * {@link TokenEndpointOptions.requestedTokenTypes}.
 */
export interface RequestedTokenTypeHandler {
  issuedTokenType: string;
  /** RFC 8693 §2.2.1 `token_type`; default `Bearer` (`N_A` for a token that is not an access token). */
  tokenType?: string;
  /** Accepted `subject_token_type` values; default access_token and jwt. */
  subjectTokenTypes?: readonly string[];
  /** Parameters beyond RFC 8693 this type reads (others are refused as today: `scope`); default none. */
  parameters?: readonly ('scope' | 'request_details' | 'request_context')[];
  /** Labels of the request's events once the caller is known (bounded values). */
  describe?(caller: Caller, extras: TokenRequestExtras): Pick<ExchangeEvent, 'txnRequester' | 'txnKind'>;
  exchange(input: BearerInput, options: ExchangeOptions, extras: TokenRequestExtras): Promise<TokenEndpointResult>;
}

export interface TokenEndpointOptions {
  path: string;
  exchange: { exchangeBearer(input: BearerInput, options?: ExchangeOptions): Promise<ExchangeResult> };
  /** `requested_token_type` → handler; default: access tokens only (also when the parameter is absent). */
  requestedTokenTypes?: ReadonlyMap<string, RequestedTokenTypeHandler> | undefined;
  /**
   * Client authentication (src/clients): who the caller is, from its certificate or assertion, never
   * from the body. Undefined: method `none`, and any client credential is refused as unsupported.
   */
  clientAuthentication?: ClientAuthenticator | undefined;
  /** `subject_issuer` value → provider id: every configured provider id, and every OIDC provider's issuer. */
  subjectIssuers: ReadonlyMap<string, string>;
  /** Providers with an OIDC issuer (their tokens may be declared `…:jwt`). */
  oidcProviders: ReadonlySet<string>;
  /**
   * `selfSigned` providers (issue 22) by id: the only ones that take `…:self_signed` subject tokens;
   * `accessTokens`: they may be exchanged for access tokens too. Empty or absent: the type is not configured.
   */
  selfSignedProviders?: ReadonlyMap<string, { accessTokens: boolean }> | undefined;
  /** Used when neither subject_issuer nor the token's `iss` names a provider. */
  defaultProvider?: string | undefined;
  /** Configured provider ids: the only values allowed as a metric/log label. */
  providerIds: ReadonlySet<string>;
  report: (event: ExchangeEvent) => void;
  /** ms an exchange may take. */
  deadline: number;
  maxConcurrentRequests: number;
  /** False while draining: new requests get 503. */
  isAccepting: () => boolean;
  clock?: () => number;
}

/**
 * The RFC 8693 token endpoint: a thin adapter from an OAuth token request to the exchange use case
 * (`exchangeBearer`, which owns delegation), with the OAuth error map of src/http/http-errors.ts. The
 * caller is authenticated by `clientAuthentication` (RFC 6749 §2.3: mTLS, client assertions, or `none`);
 * credentials the endpoint would not verify (client secrets, an Authorization header, unaccepted
 * methods) are refused with invalid_client, never ignored.
 */
export function createTokenEndpointRoutes(options: TokenEndpointOptions): HttpRoute[] {
  const clock = options.clock ?? Date.now;
  const auth = options.clientAuthentication;
  const selfSignedProviders: ReadonlyMap<string, { accessTokens: boolean }> = options.selfSignedProviders ?? new Map();
  const handlers =
    options.requestedTokenTypes ??
    new Map<string, RequestedTokenTypeHandler>([
      [ACCESS_TOKEN_TYPE, { issuedTokenType: ACCESS_TOKEN_TYPE, exchange: (input, o) => options.exchange.exchangeBearer(input, o) }],
    ]);
  // RFC 6749 §5.2 challenge for credentials sent outside the Authorization header: the accepted methods.
  const challenge = auth?.methods
    .filter((m) => m !== 'none')
    .map((m) => `${m} realm="authjwt"`)
    .join(', ');
  let inFlight = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const report = beginExchangeReport('token_endpoint', options);
    let provider: string | undefined;
    /** Set once the exchange runs: a failure before it is a refusal (admission, a malformed request). */
    let exchanging = false;
    const counted = options.isAccepting() && inFlight < options.maxConcurrentRequests;
    if (counted) inFlight++;
    try {
      if (!options.isAccepting()) throw authJwtError('SHUTTING_DOWN');
      if (!counted) throw authJwtError('OVERLOADED');
      const request = await readTokenRequest(req);
      provider = request.provider;
      // Labelled before client authentication, so a requester that fails it is counted (as `other`).
      if (request.handler.describe) report.annotate(request.handler.describe(ANONYMOUS_CALLER, request.extras));
      // The client went away before the answer, or the deadline passed: stop provider and Redis calls at once.
      const { signal, dispose } = requestSignal(res, options.deadline);
      let result: TokenEndpointResult;
      exchanging = true;
      try {
        const caller = auth ? await auth.authenticate(request.credentials, { signal }) : ANONYMOUS_CALLER;
        report.identify(caller);
        if (request.handler.describe) report.annotate(request.handler.describe(caller, request.extras));
        result = await request.handler.exchange({ ...request.input, caller }, { signal }, request.extras);
      } finally {
        dispose();
      }
      report.succeeded(result);
      // RFC 8693 §2.2.1.
      const body = JSON.stringify({
        access_token: result.token,
        issued_token_type: request.handler.issuedTokenType,
        token_type: request.handler.tokenType ?? 'Bearer',
        expires_in: Math.max(0, Math.floor((result.expiresAt - clock()) / 1000)),
      });
      send(req, res, 200, 'application/json', body, { 'cache-control': 'no-store', pragma: 'no-cache' });
    } catch (error) {
      const failure = toOAuthError(error);
      if (exchanging) report.failed(failure, error, provider);
      else report.refused(failure, error, provider);
      const headers = { ...failure.headers };
      // RFC 6749 §5.2: after a client authentication attempt in the Authorization header, 401 with a
      // challenge of the scheme the client used; otherwise (certificate, assertion) the accepted methods.
      if (failure.error === 'invalid_client') {
        const scheme = req.headers.authorization
          ? (/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*/.exec(req.headers.authorization)?.[0] ?? 'Basic')
          : undefined;
        if (scheme) headers['www-authenticate'] = `${scheme} realm="authjwt"`;
        else if (challenge) headers['www-authenticate'] = challenge;
      }
      // A body left unread (refused before reading it) must not be taken as the next request.
      if (!req.readableEnded) headers.connection = 'close';
      if (!res.headersSent && !res.destroyed) {
        send(req, res, failure.status, 'application/json', failureBody(failure), headers);
      }
    } finally {
      if (counted) inFlight--;
    }
  };

  /** Reads and validates the form; names the provider to ask (or leaves it to the token's `iss`) and the client's credentials. */
  const readTokenRequest = async (
    req: IncomingMessage,
  ): Promise<{
    input: BearerInput;
    provider: string | undefined;
    credentials: ClientCredentials;
    handler: RequestedTokenTypeHandler;
    extras: TokenRequestExtras;
  }> => {
    if ((req.url ?? '').includes('?')) throw authJwtError('TOKEN_REQUEST_MALFORMED', { detail: 'query string' });
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded')
      throw authJwtError('TOKEN_REQUEST_MALFORMED', { detail: `content-type ${type.slice(0, 64) || '(none)'}` });
    const params = new URLSearchParams(await readBody(req));

    const seen = new Set<string>();
    for (const name of params.keys()) {
      if (seen.has(name) && !REPEATABLE.has(name)) throw authJwtError('TOKEN_REQUEST_REPEATED_PARAMETER', { detail: safeName(name) });
      seen.add(name);
    }
    // Client secrets are never accepted (HTTP Basic or the body); assertions only where a method verifies them.
    const assertionSent = seen.has('client_assertion') || seen.has('client_assertion_type');
    if (req.headers.authorization !== undefined || seen.has('client_secret') || (assertionSent && !auth))
      throw authJwtError('TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED');
    const one = (name: string) => params.get(name) ?? undefined;
    const grantType = one('grant_type');
    if (!grantType) throw authJwtError('TOKEN_REQUEST_MISSING_PARAMETER', { detail: 'grant_type' });
    if (grantType !== TOKEN_EXCHANGE_GRANT)
      throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_GRANT_TYPE', { detail: `grant_type ${safeName(grantType)}` });
    const token = one('subject_token');
    const tokenType = one('subject_token_type');
    if (!token) throw authJwtError('TOKEN_REQUEST_MISSING_PARAMETER', { detail: 'subject_token' });
    if (!tokenType) throw authJwtError('TOKEN_REQUEST_MISSING_PARAMETER', { detail: 'subject_token_type' });
    // issue 22: a refresh token is refused by name; self_signed only where a selfSigned provider is configured.
    if (tokenType === REFRESH_TOKEN_TYPE) throw authJwtError('TOKEN_REQUEST_REFRESH_TOKEN_SUBJECT');
    const isSelfSigned = tokenType === SELF_SIGNED_TOKEN_TYPE && selfSignedProviders.size > 0;
    const requested = one('requested_token_type');
    const handler = handlers.get(requested ?? ACCESS_TOKEN_TYPE);
    if (!handler) throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE', { detail: `requested_token_type ${safeName(requested!)}` });
    if (!isSelfSigned && !(handler.subjectTokenTypes ?? DEFAULT_SUBJECT_TOKEN_TYPES).includes(tokenType))
      throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE', { detail: `subject_token_type ${safeName(tokenType)}` });
    const extra = handler.parameters ?? [];
    if (seen.has('scope') && !extra.includes('scope')) throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_PARAMETER', { detail: 'scope' });

    // RFC 8693 §2.1: actor_token_type is required with actor_token and must not come without it.
    const actorToken = one('actor_token');
    const actorTokenType = one('actor_token_type');
    if (actorToken !== undefined && !actorTokenType) throw authJwtError('TOKEN_REQUEST_MISSING_PARAMETER', { detail: 'actor_token_type' });
    if (actorToken === undefined && seen.has('actor_token_type'))
      throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_PARAMETER', { detail: 'actor_token_type without actor_token' });
    if (actorToken === '') throw authJwtError('TOKEN_REQUEST_MISSING_PARAMETER', { detail: 'actor_token' });
    if (actorTokenType !== undefined && actorTokenType !== ACCESS_TOKEN_TYPE && actorTokenType !== JWT_TOKEN_TYPE)
      throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE', { detail: `actor_token_type ${safeName(actorTokenType)}` });
    const actorIsJwt = actorTokenType === JWT_TOKEN_TYPE;
    if (actorToken !== undefined && actorIsJwt && !COMPACT_JWS.test(actorToken))
      throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE', { detail: 'actor_token_type jwt for a token that is not a JWT' });

    let provider: string | undefined;
    const subjectIssuer = one('subject_issuer');
    if (subjectIssuer !== undefined) {
      provider = options.subjectIssuers.get(subjectIssuer);
      if (provider === undefined) throw authJwtError('TOKEN_REQUEST_UNKNOWN_ISSUER');
    }
    const isJwtType = tokenType === JWT_TOKEN_TYPE;
    if (isJwtType && (!COMPACT_JWS.test(token) || (provider !== undefined && !options.oidcProviders.has(provider))))
      throw authJwtError('TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE', {
        detail: 'subject_token_type jwt for a token that is not a JWT of an OIDC provider',
      });
    if (isSelfSigned) provider = selfSignedProvider(provider, requested);

    // RFC 8693 `audience` (logical names) and RFC 8707 `resource` (absolute URIs without fragment).
    const audience = params.getAll('audience').filter((a) => a !== '');
    for (const resource of params.getAll('resource')) {
      if (!URL.canParse(resource) || resource.includes('#'))
        throw authJwtError('REQUEST_INVALID_AUDIENCE', { detail: 'resource is not an absolute URI without fragment' });
      audience.push(resource);
    }
    return {
      provider,
      handler,
      extras: {
        subjectTokenType: tokenType,
        scope: extra.includes('scope') ? one('scope') : undefined,
        requestDetails: extra.includes('request_details') ? one('request_details') : undefined,
        requestContext: extra.includes('request_context') ? one('request_context') : undefined,
        resourceSent: seen.has('resource'),
        remoteAddress: req.socket.remoteAddress?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, ''),
      },
      // Only what proves the client; `client_id` merely has to agree with the proven client.
      credentials: {
        certificate: auth?.usesCertificates ? peerCertificate(req) : undefined,
        assertionType: one('client_assertion_type'),
        assertion: one('client_assertion'),
        clientId: one('client_id'),
      },
      input: {
        token,
        provider,
        // A token declared a JWT is verified only by the OIDC provider its `iss` names.
        defaultProvider: isJwtType || isSelfSigned ? undefined : options.defaultProvider,
        ...(isSelfSigned ? { selfSigned: true } : {}),
        audience: audience.length ? audience : undefined,
        actorToken: actorToken !== undefined ? { token: actorToken, jwt: actorIsJwt } : undefined,
      },
    };
  };

  /**
   * The selfSigned provider of a `…:self_signed` subject token: the one `subject_issuer` names, else the
   * only one configured. It must issue the requested type (access tokens only with `accessTokens`).
   */
  const selfSignedProvider = (named: string | undefined, requested: string | undefined): string => {
    const refuse = (detail: string) => authJwtError('REQUEST_SELF_SIGNED_NOT_ACCEPTED', { detail });
    let id = named;
    if (id === undefined) {
      if (selfSignedProviders.size !== 1) throw refuse('several selfSigned providers: subject_issuer must name one');
      id = selfSignedProviders.keys().next().value!;
    }
    const settings = selfSignedProviders.get(id);
    if (!settings) throw refuse('subject_issuer names a provider that is not selfSigned');
    if ((requested ?? ACCESS_TOKEN_TYPE) === ACCESS_TOKEN_TYPE && !settings.accessTokens)
      throw refuse('an access token from a self-signed JWT (selfSigned.accessTokens is off)');
    return id;
  };

  return [{ paths: [options.path], methods: ['POST'], handle }];
}

const certificates = new WeakMap<TLSSocket, PresentedCertificate | null>();

/** The connection's client certificate and the TLS layer's verdict on it (read once per connection). */
function peerCertificate(req: IncomingMessage): PresentedCertificate | undefined {
  const socket = req.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  let presented = certificates.get(socket);
  if (presented === undefined) {
    const raw = socket.getPeerCertificate(false)?.raw;
    const error = socket.authorizationError;
    presented = raw?.length
      ? { authorized: socket.authorized === true, error: error === undefined || error === null ? undefined : String(error), raw }
      : null;
    certificates.set(socket, presented);
  }
  return presented ?? undefined;
}

/** The body as text, at most {@link MAX_BODY_BYTES}. */
function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) return Promise.reject(authJwtError('TOKEN_REQUEST_MALFORMED', { detail: 'body too large' }));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.off('data', onData);
        reject(authJwtError('TOKEN_REQUEST_MALFORMED', { detail: 'body too large' }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', (error) => reject(authJwtError('TOKEN_REQUEST_MALFORMED', { detail: 'body unreadable', cause: error })));
  });
}

const KNOWN_NAMES = new Set([
  'grant_type',
  'subject_token',
  'subject_token_type',
  'subject_issuer',
  'requested_token_type',
  'actor_token',
  'actor_token_type',
  'audience',
  'resource',
  'scope',
  'request_details',
  'request_context',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'actor_token_type without actor_token',
  'authorization_code',
  'client_credentials',
  'password',
  'refresh_token',
  'implicit',
]);

/**
 * A parameter name or value for a log line, only when it is a registered name or an OAuth URN: a
 * confused client may put a token anywhere, and tokens never reach the logs.
 */
function safeName(value: string): string {
  return KNOWN_NAMES.has(value) || /^urn:ietf:params:oauth:[a-z-]{1,20}:[a-z0-9_-]{1,40}$/.test(value) ? value : '(unrecognized)';
}
