/**
 * RFC 8693 delegation as the exchange use case applies it, on every door: the `act` chain a subject
 * token carries survives into the minted token (§4.1; keycloak#53029 dropped it), an actor is nested in
 * front of it, and a subject token's `may_act` (§4.4) admits only the actors it names — and never an
 * exchange without one (keycloak#52691 silently downgraded such a token to impersonation).
 *
 * Values come from verified tokens but their shape is untrusted: they are rebuilt here from own string
 * members only, bounded in depth and length, before they reach a minted token, a policy or a log.
 */
import { authJwtError } from '../errors.ts';

/** An `act` claim (RFC 8693 §4.1) as minted: identity members only, prior actors nested. */
export interface ActClaim {
  sub: string;
  iss?: string;
  client_id?: string;
  act?: ActClaim;
}

/** A subject token's `may_act` (RFC 8693 §4.4): the identity an actor must have. */
export interface MayAct {
  sub?: string;
  iss?: string;
  client_id?: string;
}

/** One way of naming an actor: in its issuer's namespace, or in authjwt's. */
export interface ActorName {
  sub: string;
  /** The namespace `sub` and `client_id` live in; undefined: none known (never matches an issuer). */
  iss: string | undefined;
  clientId: string | undefined;
  /** A SPIFFE ID names itself across issuers (its trust domain is in it). */
  spiffeId?: string | undefined;
}

/** Actors in one chain, the current one included (RFC 8693 puts no bound on it; a token must stay small). */
const MAX_ACT_DEPTH = 8;
const MAX_MEMBER_LENGTH = 512;
const IDENTITY_MEMBERS = ['sub', 'iss', 'client_id'] as const;

const invalid = (detail: string) => authJwtError('DELEGATION_INVALID_CLAIM', { detail });

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function member(source: Record<string, unknown>, name: string, claim: string): string | undefined {
  if (!Object.hasOwn(source, name)) return undefined;
  const value = source[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_MEMBER_LENGTH)
    throw invalid(`${claim}.${name} is not a non-empty string of at most ${MAX_MEMBER_LENGTH} characters`);
  return value;
}

/**
 * A verified token's `act`, rebuilt (sub, iss, client_id, nested act; other members dropped), with
 * `defaultIssuer` written into every level that names none: an upstream IdP's `sub` lives in that IdP's
 * namespace, which an `act` without `iss` in authjwt's token would no longer say. Undefined when absent.
 */
export function readAct(value: unknown, defaultIssuer: string | undefined, depth = 1): ActClaim | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw invalid('act is not an object');
  if (depth > MAX_ACT_DEPTH) throw invalid(`act is nested deeper than ${MAX_ACT_DEPTH}`);
  const sub = member(value, 'sub', 'act');
  if (sub === undefined) throw invalid('act has no sub');
  const iss = member(value, 'iss', 'act') ?? defaultIssuer;
  const clientId = member(value, 'client_id', 'act');
  const prior = readAct(Object.hasOwn(value, 'act') ? value.act : undefined, defaultIssuer, depth + 1);
  return {
    sub,
    ...(iss !== undefined ? { iss } : {}),
    ...(clientId !== undefined ? { client_id: clientId } : {}),
    ...(prior ? { act: prior } : {}),
  };
}

/** A verified token's `may_act`: an object naming `sub` and/or `client_id` (and optionally `iss`). Undefined when absent. */
export function readMayAct(value: unknown): MayAct | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw invalid('may_act is not an object');
  const out: MayAct = {};
  for (const name of IDENTITY_MEMBERS) {
    const v = member(value, name, 'may_act');
    if (v !== undefined) out[name] = v;
  }
  // An object naming nobody (only unknown members) would admit no actor or, read loosely, any: refuse it.
  if (out.sub === undefined && out.client_id === undefined) throw invalid('may_act names neither sub nor client_id');
  return out;
}

/**
 * Whether `may_act` admits an actor known under `names`. Every member `may_act` sets must equal the same
 * name's; a missing `iss` means the subject token's issuer (RFC 7519: `sub` is scoped to its issuer), except
 * for a SPIFFE ID, which names its trust domain itself.
 */
export function mayActAdmits(mayAct: MayAct, subjectIssuer: string | undefined, names: readonly ActorName[]): boolean {
  if (mayAct.iss === undefined && mayAct.sub?.startsWith('spiffe://'))
    return names.some((n) => n.spiffeId === mayAct.sub && (mayAct.client_id === undefined || n.clientId === mayAct.client_id));
  const issuer = mayAct.iss ?? subjectIssuer;
  if (issuer === undefined) return false;
  return names.some(
    (n) =>
      n.iss === issuer &&
      (mayAct.sub === undefined || n.sub === mayAct.sub) &&
      (mayAct.client_id === undefined || n.clientId === mayAct.client_id),
  );
}

/** The minted `act`: the current actor, with the prior chain nested under it (RFC 8693 §4.1), bounded in depth. */
export function nestAct(current: Omit<ActClaim, 'act'>, prior: ActClaim | undefined): ActClaim {
  const act: ActClaim = prior ? { ...current, act: prior } : { ...current };
  if (actDepth(act) > MAX_ACT_DEPTH) throw invalid(`the delegation chain would be deeper than ${MAX_ACT_DEPTH}`);
  return act;
}

function actDepth(act: ActClaim | undefined): number {
  let depth = 0;
  for (let a = act; a; a = a.act) depth++;
  return depth;
}
