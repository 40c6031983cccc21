#!/usr/bin/env python3
"""Checks Txn-Token Responses against draft-ietf-oauth-transaction-tokens from the outside, with joserfc
and keys found through OIDC discovery (authjwt's published JWKS): an independent verifier, sharing no
code with authjwt.

  verify_txn_token.py --issuer URL --trust-domain TD [--max-lifetime SECONDS] [--response-file F|-]

Input: token endpoint responses (JSON objects), one per line (default stdin). For each, checks:
  response  token_type "N_A"; issued_token_type urn:ietf:params:oauth:token-type:txn_token;
            access_token present; no refresh_token ("Txn-Token Response")
  header    typ exactly "txntoken+jwt" (present); kid present and naming a published key; alg in the
            asymmetric allow-list (RFC 8725 §3.1), never "none" or HMAC
  signature verified with the published JWKS
  claims    iat, exp (integers, exp > iat, exp - iat <= --max-lifetime, not expired, iat not in the
            future); aud a string equal to the trust domain; txn, sub, scope, req_wl non-empty strings;
            tctx and rctx, when present, JSON objects ("JWT Body Claims")

Prints one JSON line per response:
  {"ok":true,"header":{…},"claims":{…}}
  {"ok":false,"header":{…},"problems":["typ 'at+jwt' is not txntoken+jwt", …]}
Exit 0 when every response passed, 1 when one did not, 2 on bad usage or a discovery failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from interop_common import discover, emit, read_tokens, unverified_header

TXN_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:txn_token"
ALGORITHMS = ["ES256", "ES384", "EdDSA", "RS256", "PS256"]
REQUIRED_STRINGS = ("txn", "sub", "scope", "req_wl")


def check(response: dict, keys: KeySet, kids: set[str], trust_domain: str, max_lifetime: int) -> dict:
    problems: list[str] = []
    if response.get("token_type") != "N_A":
        problems.append(f"token_type {response.get('token_type')!r} is not N_A")
    if response.get("issued_token_type") != TXN_TOKEN_TYPE:
        problems.append(f"issued_token_type {response.get('issued_token_type')!r} is not {TXN_TOKEN_TYPE}")
    if "refresh_token" in response:
        problems.append("a refresh_token is present")
    token = response.get("access_token")
    if not isinstance(token, str) or not token:
        return {"ok": False, "header": None, "problems": problems + ["no access_token"]}
    header = unverified_header(token) or {}
    if header.get("typ") != "txntoken+jwt":
        problems.append(f"typ {header.get('typ')!r} is not txntoken+jwt")
    if not header.get("kid"):
        problems.append("no kid")
    elif header["kid"] not in kids:
        problems.append(f"kid {header['kid']!r} is not published")
    if header.get("alg") not in ALGORITHMS:
        problems.append(f"alg {header.get('alg')!r} is not in the allow-list")
    try:
        claims = jwt.decode(token, keys, algorithms=ALGORITHMS).claims
    except (JoseError, ValueError) as exc:
        return {"ok": False, "header": header, "problems": problems + [f"signature: {type(exc).__name__}: {exc}"]}
    now = int(time.time())
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or isinstance(iat, bool) or not isinstance(exp, int) or isinstance(exp, bool):
        problems.append("iat and exp must be integers")
    else:
        if exp <= iat:
            problems.append("exp is not after iat")
        if exp - iat > max_lifetime:
            problems.append(f"lifetime {exp - iat}s exceeds {max_lifetime}s")
        if exp <= now:
            problems.append("expired")
        if iat > now + 5:
            problems.append("iat in the future")
    if claims.get("aud") != trust_domain:
        problems.append(f"aud {claims.get('aud')!r} is not the trust domain {trust_domain!r}")
    for name in REQUIRED_STRINGS:
        if not isinstance(claims.get(name), str) or not claims.get(name):
            problems.append(f"{name} missing or not a non-empty string")
    for name in ("tctx", "rctx"):
        if name in claims and not isinstance(claims[name], dict):
            problems.append(f"{name} is not a JSON object")
    if problems:
        return {"ok": False, "header": header, "problems": problems}
    return {"ok": True, "header": header, "claims": claims}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issuer", required=True, help="authjwt's issuer (discovery, then jwks_uri)")
    parser.add_argument("--trust-domain", required=True)
    parser.add_argument("--max-lifetime", type=int, default=900, help="seconds (the draft: short-lived; authjwt allows at most 15m)")
    parser.add_argument("--response-file", default="-", help='responses, one JSON object per line ("-" = stdin)')
    args = parser.parse_args()
    try:
        doc = discover(args.issuer)
        res = requests.get(doc["jwks_uri"], timeout=10, allow_redirects=False)
        res.raise_for_status()
        jwks = res.json()
        keys = KeySet.import_key_set(jwks)
        kids = {k.get("kid") for k in jwks.get("keys", []) if k.get("kid")}
    except Exception as exc:  # noqa: BLE001 - reported as JSON
        emit({"ok": False, "error": "discovery", "message": str(exc)})
        sys.exit(2)
    all_ok = True
    for line in read_tokens(args.response_file):
        try:
            response = json.loads(line)
        except ValueError:
            response = {}
        result = check(response if isinstance(response, dict) else {}, keys, kids, args.trust_domain, args.max_lifetime)
        all_ok = all_ok and result["ok"]
        emit(result)
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
