#!/usr/bin/env python3
"""Validates a discovery document with Authlib's metadata models, the strictest validators among the
interop clients, and prints what each says:

  check_metadata.py --issuer URL

  {"issuer":"…","rfc8414":"ok"|"<first error>","openid":"ok"|"<first error>","members":[…]}

rfc8414 = authlib.oauth2.rfc8414.AuthorizationServerMetadata(doc).validate() (RFC 8414 §2),
openid  = authlib.oidc.discovery.OpenIDProviderMetadata(doc).validate() (OpenID Connect Discovery §3).
Exit 0 once the result was printed, 2 when discovery could not be read.
"""

from __future__ import annotations

import argparse
import sys

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from interop_common import discover, emit


def first_error(model) -> str:
    try:
        model.validate()
        return "ok"
    except ValueError as exc:
        return str(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issuer", required=True)
    args = parser.parse_args()
    try:
        doc = discover(args.issuer)
    except Exception as exc:  # noqa: BLE001 - reported as JSON
        emit({"issuer": args.issuer, "error": "discovery", "message": str(exc)})
        sys.exit(2)
    emit(
        {
            "issuer": args.issuer,
            "rfc8414": first_error(AuthorizationServerMetadata(doc)),
            "openid": first_error(OpenIDProviderMetadata(doc)),
            "members": sorted(doc),
        }
    )


if __name__ == "__main__":
    main()
