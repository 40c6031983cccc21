/**
 * Client authentication of the token endpoint (RFC 6749 §2.3): which registered client sends a token
 * request, proven by
 * - `tls_client_auth` (RFC 8705 §2.1): the connection's certificate, verified against the trust bundle,
 *   names the client by its SPIFFE ID, a SAN or its subject;
 * - `private_key_jwt` (RFC 7523 §2.2, §3): an assertion signed with the client's registered key, single-use;
 * - `federated_jwt`: an assertion that is a workload's own token (SPIFFE JWT-SVID, an OIDC issuer's JWT, a
 *   Kubernetes service-account token) from a configured trust source, whose `sub` is registered;
 * - `none`: no credential at all, when configured.
 * The caller is never read from the request body: a `client_id` parameter only has to agree with it.
 */
import { decodeJwt } from 'jose';
import { authJwtError } from '../errors.ts';
import { ANONYMOUS_CALLER, type Caller, type CallerKind } from '../exchange/ports.ts';
import { certificateIdentity, kubernetesOfSpiffeId, parseSubjectDn, type CertificateIdentity } from './certificate.ts';
import type { JwkSetSource } from './jwk-set.ts';
import type { ClientAuthenticator, ClientCredentials, PresentedCertificate, ReplayCache } from './ports.ts';
import { verifyPrivateKeyJwt } from './private-key-jwt.ts';
import { assertionFailure, type TrustSource } from './trust-sources.ts';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_ASSERTION_BYTES = 16 * 1024;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** A registered client, as the authenticator uses it. */
export interface RegisteredClient {
  id: string;
  tlsClientAuth?:
    | { spiffeId?: string | undefined; subjectDn?: string | undefined; sanDns?: string | undefined; sanUri?: string | undefined }
    | undefined;
  privateKeyJwt?: JwkSetSource | undefined;
  federated?: { trustSource: string; subject: string } | undefined;
}

export interface ClientAuthenticatorOptions {
  /** Accepted methods (`none`, `tls_client_auth`, `private_key_jwt`, `federated_jwt`). */
  methods: readonly CallerKind[];
  clients: readonly RegisteredClient[];
  trustSources: readonly TrustSource[];
  privateKeyJwt: { audiences: readonly string[]; algorithms: readonly string[]; maxLifetime: number; replay: ReplayCache | undefined };
  /** ms tolerated on exp/nbf/iat and certificate validity. */
  clockTolerance: number;
  clock?: () => number;
}

const fail = (name: 'CLIENT_AUTH_UNKNOWN_CLIENT' | 'CLIENT_AUTH_INVALID_ASSERTION' | 'CLIENT_AUTH_INVALID_CERTIFICATE', detail: string) =>
  authJwtError(name, { detail });

export function createClientAuthenticator(options: ClientAuthenticatorOptions): ClientAuthenticator {
  const methods = new Set(options.methods);
  const clock = options.clock ?? Date.now;
  const byId = new Map(options.clients.map((c) => [c.id, c]));
  const tlsClients = options.clients.filter((c) => c.tlsClientAuth);
  const subjectDns = new Map(
    tlsClients.filter((c) => c.tlsClientAuth!.subjectDn).map((c) => [c.id, parseSubjectDn(c.tlsClientAuth!.subjectDn!)]),
  );
  const federated = new Map(
    options.clients.filter((c) => c.federated).map((c) => [`${c.federated!.trustSource}\0${c.federated!.subject}`, c]),
  );
  const identities = new WeakMap<PresentedCertificate, CertificateIdentity>();

  const matchesCertificate = (client: RegisteredClient, id: CertificateIdentity): boolean => {
    const t = client.tlsClientAuth!;
    if (t.spiffeId !== undefined) return id.spiffeId === t.spiffeId;
    if (t.sanUri !== undefined) return id.uris.includes(t.sanUri);
    if (t.sanDns !== undefined) return id.dnsNames.some((d) => d.toLowerCase() === t.sanDns!.toLowerCase());
    const dn = subjectDns.get(client.id)!;
    return dn.length === id.subject.length && dn.every((a, i) => a === id.subject[i]);
  };

  const byCertificate = (certificate: PresentedCertificate): Caller => {
    // The listener asked for a certificate without refusing the handshake: the verdict is read here.
    if (!certificate.authorized) throw fail('CLIENT_AUTH_INVALID_CERTIFICATE', certificate.error ?? 'not verified');
    let id = identities.get(certificate);
    if (!id) {
      id = certificateIdentity(certificate.raw);
      identities.set(certificate, id);
    }
    // The handshake checked validity when the connection opened; a kept-alive connection may outlive it.
    const now = clock();
    if (now > id.notAfter + options.clockTolerance)
      throw fail('CLIENT_AUTH_INVALID_CERTIFICATE', 'certificate expired since the connection opened');
    if (now < id.notBefore - options.clockTolerance) throw fail('CLIENT_AUTH_INVALID_CERTIFICATE', 'certificate not valid yet');
    const matches = tlsClients.filter((c) => matchesCertificate(c, id));
    if (matches.length !== 1)
      throw fail(
        'CLIENT_AUTH_UNKNOWN_CLIENT',
        matches.length ? `certificate matches ${matches.length} clients` : `certificate ${describeCertificate(id)}`,
      );
    const client = matches[0]!;
    const workload = id.spiffeId ? kubernetesOfSpiffeId(id.spiffeId) : undefined;
    return {
      kind: 'tls_client_auth',
      id: client.id,
      subject: id.spiffeId ?? id.subject.join(','),
      issuer: '',
      spiffeId: id.spiffeId ?? '',
      namespace: workload?.namespace ?? '',
      serviceAccount: workload?.serviceAccount ?? '',
    };
  };

  const byPrivateKeyJwt = async (assertion: string, client: RegisteredClient, signal: AbortSignal | undefined): Promise<Caller> => {
    const p = options.privateKeyJwt;
    await verifyPrivateKeyJwt(
      assertion,
      client.id,
      client.privateKeyJwt!,
      {
        audiences: p.audiences,
        algorithms: p.algorithms,
        maxLifetime: p.maxLifetime,
        clockTolerance: options.clockTolerance,
        replay: p.replay!,
        clock,
      },
      { signal },
    );
    return { ...ANONYMOUS_CALLER, kind: 'private_key_jwt', id: client.id, subject: client.id };
  };

  const byFederatedAssertion = async (
    assertion: string,
    claims: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<Caller> => {
    const source = options.trustSources.find((s) => s.routes(claims));
    if (!source) throw fail('CLIENT_AUTH_UNKNOWN_CLIENT', 'no trust source for the assertion issuer');
    let verified: Readonly<Record<string, unknown>>;
    let subject: string;
    try {
      const identity = await source.verifier.verify(assertion, { signal });
      verified = identity.claims;
      subject = identity.accountId;
    } catch (error) {
      throw assertionFailure(error, source.id);
    }
    // The verifier checked the audience too; checked here again so that no kind can be registered without it.
    const aud = verified.aud;
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!auds.some((a) => typeof a === 'string' && source.audiences.includes(a)))
      throw fail('CLIENT_AUTH_INVALID_ASSERTION', `trust source ${source.id}: aud is not an accepted audience`);
    checkLifetime(verified, source.maxLifetime, clock(), options.clockTolerance, source.id);
    const client = federated.get(`${source.id}\0${subject}`);
    if (!client) throw fail('CLIENT_AUTH_UNKNOWN_CLIENT', `trust source ${source.id}: subject is registered for no client`);
    const k8s = kubernetesOf(verified);
    const spiffeId = subject.startsWith('spiffe://') ? subject : '';
    const convention = spiffeId ? kubernetesOfSpiffeId(spiffeId) : undefined;
    return {
      kind: 'federated_jwt',
      id: client.id,
      subject,
      issuer: typeof verified.iss === 'string' ? verified.iss : '',
      spiffeId,
      namespace: k8s?.namespace ?? convention?.namespace ?? '',
      serviceAccount: k8s?.serviceAccount ?? convention?.serviceAccount ?? '',
    };
  };

  const byAssertion = async (credentials: ClientCredentials, signal: AbortSignal | undefined): Promise<Caller> => {
    if (credentials.assertionType !== JWT_BEARER_ASSERTION || !(methods.has('private_key_jwt') || methods.has('federated_jwt')))
      throw authJwtError('TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED', { detail: 'client_assertion_type' });
    const assertion = credentials.assertion;
    if (!assertion || assertion.length > MAX_ASSERTION_BYTES || !VISIBLE_ASCII.test(assertion))
      throw fail('CLIENT_AUTH_INVALID_ASSERTION', 'client_assertion missing, oversized or not a compact JWS');
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(assertion);
    } catch {
      throw fail('CLIENT_AUTH_INVALID_ASSERTION', 'client_assertion is not a JWT');
    }
    // RFC 7523 §3: a client's own assertion has iss = sub = client_id; anything else is a workload token.
    const own = typeof claims.sub === 'string' && claims.iss === claims.sub ? byId.get(claims.sub) : undefined;
    if (own?.privateKeyJwt && methods.has('private_key_jwt')) return byPrivateKeyJwt(assertion, own, signal);
    if (methods.has('federated_jwt')) return byFederatedAssertion(assertion, claims, signal);
    throw fail('CLIENT_AUTH_UNKNOWN_CLIENT', 'assertion names no private_key_jwt client');
  };

  return {
    usesCertificates: methods.has('tls_client_auth'),
    methods: [...methods],
    assertionAlgorithms: methods.has('private_key_jwt') ? [...options.privateKeyJwt.algorithms] : [],
    async authenticate(credentials, o = {}) {
      const certificate = methods.has('tls_client_auth') ? credentials.certificate : undefined;
      const assertion = credentials.assertion !== undefined || credentials.assertionType !== undefined;
      // RFC 6749 §2.3: one method per request; a certificate the listener asked for counts as one.
      if (certificate && assertion) throw authJwtError('CLIENT_AUTH_MULTIPLE_METHODS');
      let caller: Caller;
      if (assertion) caller = await byAssertion(credentials, o.signal);
      else if (certificate) caller = byCertificate(certificate);
      else {
        // A registered client must prove itself; an unregistered client_id (a public client's) names nobody.
        if (!methods.has('none') || (credentials.clientId !== undefined && byId.has(credentials.clientId)))
          throw authJwtError('CLIENT_AUTH_REQUIRED');
        return ANONYMOUS_CALLER;
      }
      if (credentials.clientId !== undefined && credentials.clientId !== caller.id)
        throw authJwtError('CLIENT_AUTH_CLIENT_ID_MISMATCH', { detail: `authenticated ${caller.id}` });
      return caller;
    },
    async close() {
      for (const c of options.clients) c.privateKeyJwt?.close();
      for (const s of options.trustSources) s.close();
      await options.privateKeyJwt.replay?.close();
    },
  };
}

/**
 * Bearer-style workload tokens are reusable by design (JWT-SVID §6.1, Kubernetes projected tokens): their
 * lifetime is bounded instead. exp − iat at most `maxLifetime`; without `iat`, exp − now.
 */
function checkLifetime(
  claims: Readonly<Record<string, unknown>>,
  maxLifetime: number,
  now: number,
  tolerance: number,
  source: string,
): void {
  const exp = claims.exp;
  const iat = claims.iat;
  if (typeof exp !== 'number') throw fail('CLIENT_AUTH_INVALID_ASSERTION', `trust source ${source}: no exp`);
  const lifetime = typeof iat === 'number' ? exp * 1000 - iat * 1000 : exp * 1000 - now;
  const bound = typeof iat === 'number' ? maxLifetime : maxLifetime + tolerance;
  if (lifetime > bound)
    throw fail(
      'CLIENT_AUTH_INVALID_ASSERTION',
      `trust source ${source}: lifetime ${Math.round(lifetime / 1000)} s is beyond the bound of ${maxLifetime / 1000} s`,
    );
}

/** `kubernetes.io` of a projected service-account token: namespace and service account name. */
function kubernetesOf(claims: Readonly<Record<string, unknown>>): { namespace: string; serviceAccount: string } | undefined {
  const k8s = Object.hasOwn(claims, 'kubernetes.io') ? claims['kubernetes.io'] : undefined;
  if (typeof k8s !== 'object' || k8s === null) return undefined;
  const namespace = (k8s as Record<string, unknown>).namespace;
  const sa = (k8s as Record<string, unknown>).serviceaccount;
  const name = typeof sa === 'object' && sa !== null ? (sa as Record<string, unknown>).name : undefined;
  return typeof namespace === 'string' && typeof name === 'string' ? { namespace, serviceAccount: name } : undefined;
}

function describeCertificate(id: CertificateIdentity): string {
  return (id.spiffeId ?? id.subject.join(',')).slice(0, 200);
}
