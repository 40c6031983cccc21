#!/usr/bin/env python3
"""Verifies JWTs with PyJWT the way a Python resource server does: OIDC discovery, then PyJWKClient
on the discovered jwks_uri, algorithms from the discovery document (or --algorithms).

  verify_jwt.py --issuer URL [--audience AUD] [--algorithms ES256,RS256] [--token-file F|-]

Reads tokens one per line (default stdin) and prints one JSON line per token:
  {"ok":true,"header":{"alg":…,"kid":…,"typ":…},"claims":{…}}
  {"ok":false,"header":{…},"error":"InvalidAudienceError","message":"…"}
Exit 0 when every token verified, 1 when one did not, 2 on bad usage or a discovery failure.
"""

from __future__ import annotations

import argparse
import sys

import jwt

from interop_common import discover, emit, read_tokens, unverified_header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", help="required audience (omitted: the aud claim is not checked)")
    parser.add_argument("--algorithms", help="comma-separated allow-list (default: discovery's id_token_signing_alg_values_supported)")
    parser.add_argument("--token-file", default="-", help='tokens, one per line ("-" = stdin)')
    parser.add_argument("--leeway", type=float, default=0, help="clock tolerance in seconds")
    args = parser.parse_args()

    try:
        doc = discover(args.issuer)
    except Exception as exc:  # noqa: BLE001 - reported as JSON
        emit({"ok": False, "error": "discovery", "message": str(exc)})
        sys.exit(2)
    algorithms = args.algorithms.split(",") if args.algorithms else doc.get("id_token_signing_alg_values_supported") or []
    jwks = jwt.PyJWKClient(doc["jwks_uri"], cache_jwk_set=True, lifespan=300, timeout=10)

    all_ok = True
    for token in read_tokens(args.token_file):
        result = {"header": unverified_header(token)}
        try:
            key = jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=args.issuer,
                audience=args.audience,
                leeway=args.leeway,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": args.audience is not None},
            )
            result.update(ok=True, claims=claims)
        except (jwt.PyJWTError, ValueError) as exc:
            all_ok = False
            result.update(ok=False, error=type(exc).__name__, message=str(exc))
        emit(result)
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
