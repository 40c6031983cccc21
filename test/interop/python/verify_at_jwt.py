#!/usr/bin/env python3
"""Verifies JWT access tokens against the RFC 9068 profile (JWT Profile for OAuth 2.0 Access Tokens)
with Authlib, keys found through discovery.

  verify_at_jwt.py --issuer URL --audience AUD [--engine authlib|joserfc] [--algorithms ES256,EdDSA]
                   [--allow-missing-typ] [--token-file F|-]

Engines:
  authlib  (default) Authlib's resource-server validator authlib.oauth2.rfc9068.JWTBearerTokenValidator,
           unmodified: iss exact, exp, aud, sub, client_id, iat, jti essential; header typ, when
           present, must be at+jwt or application/at+jwt. Its JOSE layer (joserfc) accepts only
           joserfc's "recommended" algorithms (HS256, RS256, ES256); --algorithms does not apply.
  joserfc  the same claim requirements with joserfc directly, algorithms from --algorithms or from
           discovery (id_token_signing_alg_values_supported).
RFC 9068 §4 says resource servers MUST reject any typ other than at+jwt; Authlib lets a token WITHOUT
typ through, so both engines here also require typ to be present unless --allow-missing-typ.

Prints one JSON line per token (default stdin, one per line):
  {"ok":true,"engine":"authlib","header":{…},"claims":{…}}
  {"ok":false,"engine":"authlib","header":{…},"error":"InvalidClaimError","message":"invalid_claim: Invalid claim: \"typ\""}
Exit 0 when every token verified, 1 when one did not, 2 on bad usage or a discovery failure.
"""

from __future__ import annotations

import argparse
import sys

import requests
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from interop_common import discover, emit, read_tokens, unverified_header

AT_JWT_TYPES = ("at+jwt", "application/at+jwt")
RFC9068_ESSENTIAL = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")


class DiscoveredJWKSValidator(JWTBearerTokenValidator):
    """Authlib leaves get_jwks() to the application: here, the JWKS fetched through discovery."""

    def __init__(self, issuer: str, resource_server: str, jwks: KeySet):
        super().__init__(issuer, resource_server)
        self._jwks = jwks

    def get_jwks(self):
        return self._jwks


def verify_authlib(token: str, validator: DiscoveredJWKSValidator) -> dict:
    try:
        claims = validator.authenticate_token(token)
        validator.validate_token(claims, scopes=None, request=None)
    except InvalidTokenError as exc:
        cause = exc.__cause__
        if isinstance(cause, JoseError):
            return {"ok": False, "error": type(cause).__name__, "message": str(cause)}
        return {"ok": False, "error": type(exc).__name__, "message": exc.get_error_description() or exc.error}
    return {"ok": True, "claims": dict(claims)}


def verify_joserfc(token: str, keys: KeySet, issuer: str, audience: str, algorithms: list[str]) -> dict:
    try:
        decoded = jwt.decode(token, keys, algorithms=algorithms)
        typ = decoded.header.get("typ")
        if typ is not None and str(typ).lower() not in AT_JWT_TYPES:
            return {"ok": False, "error": "InvalidTypError", "message": f"typ {typ!r} is not at+jwt (RFC 9068 §4)"}
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            **{name: {"essential": True} for name in RFC9068_ESSENTIAL if name not in ("iss", "aud")},
        )
        registry.validate(decoded.claims)
    except JoseError as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    return {"ok": True, "claims": decoded.claims}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True, help="this resource server's identifier (must be in aud)")
    parser.add_argument("--engine", choices=("authlib", "joserfc"), default="authlib")
    parser.add_argument("--algorithms", help="joserfc engine: comma-separated allow-list (default: from discovery)")
    parser.add_argument("--allow-missing-typ", action="store_true", help="accept a token without typ (Authlib's own behaviour)")
    parser.add_argument("--token-file", default="-", help='tokens, one per line ("-" = stdin)')
    args = parser.parse_args()

    try:
        doc = discover(args.issuer)
        res = requests.get(doc["jwks_uri"], timeout=10, allow_redirects=False)
        res.raise_for_status()
        keys = KeySet.import_key_set(res.json())
    except Exception as exc:  # noqa: BLE001 - reported as JSON
        emit({"ok": False, "error": "discovery", "message": str(exc)})
        sys.exit(2)
    algorithms = args.algorithms.split(",") if args.algorithms else doc.get("id_token_signing_alg_values_supported") or []
    validator = DiscoveredJWKSValidator(args.issuer, args.audience, keys)

    all_ok = True
    for token in read_tokens(args.token_file):
        header = unverified_header(token)
        if args.engine == "authlib":
            result = verify_authlib(token, validator)
        else:
            result = verify_joserfc(token, keys, args.issuer, args.audience, algorithms)
        if result["ok"] and not args.allow_missing_typ and not (header or {}).get("typ"):
            result = {"ok": False, "error": "MissingTypError", "message": "no typ header; RFC 9068 §4 requires at+jwt"}
        all_ok = all_ok and result["ok"]
        emit({"ok": result.pop("ok"), "engine": args.engine, "header": header, **result})
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
