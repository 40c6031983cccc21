#!/usr/bin/env python3
"""An RFC 8693 (OAuth 2.0 Token Exchange) client: POSTs a token-exchange request to a token endpoint
and prints the HTTP status and the JSON answer.

  token_exchange.py (--token-endpoint URL | --issuer URL) --subject-token-file F
      [--subject-token-type URN] [--subject-issuer ISS] [--audience A] [--resource R] [--scope S]
      [--requested-token-type URN] [--actor-token-file F --actor-token-type URN]
      [--client-id ID [--client-secret-file F] [--auth-method client_secret_basic|client_secret_post|none]]
      [--client authlib|requests] [--grant-type G] [--param k=v ...]

--issuer finds token_endpoint through discovery. Clients:
  authlib   (default) authlib.integrations.requests_client.OAuth2Session.fetch_token with the
            token-exchange grant_type; Authlib builds the form and the client authentication. It
            sends each parameter once (it collapses repeats), so one --audience/--resource at most.
  requests  a plain form POST of exactly the given parameters (repeats kept; for negative cases).
--param adds raw form parameters; --grant-type replaces the grant type (e.g. to send a wrong one).

Prints one JSON object:
  {"client":"authlib","httpStatus":200,"contentType":"application/json","headers":{"cache-control":…},
   "body":{"access_token":"…","issued_token_type":…,"token_type":"Bearer","expires_in":…},
   "authlib":{"ok":true}}           (authlib client: {"ok":false,"error":"invalid_target","description":…})
"body" is the parsed JSON (or "bodyText" when not JSON); "headers" has cache-control, pragma and
www-authenticate when sent. Exit 0 once an HTTP answer was printed (whatever its status), 1 when the
endpoint could not be reached, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from interop_common import discover, emit, fail_usage, read_secret

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REPORTED_HEADERS = ("cache-control", "pragma", "www-authenticate", "content-type")


def describe(resp: requests.Response, client: str) -> dict:
    out: dict = {
        "client": client,
        "httpStatus": resp.status_code,
        "contentType": resp.headers.get("content-type", ""),
        "headers": {h: resp.headers[h] for h in REPORTED_HEADERS if h in resp.headers},
    }
    try:
        out["body"] = resp.json()
    except ValueError:
        out["bodyText"] = resp.text
    return out


def form_params(args) -> list[tuple[str, str]]:
    params = [("subject_token", read_secret(args.subject_token_file)), ("subject_token_type", args.subject_token_type)]
    if args.subject_issuer:
        params.append(("subject_issuer", args.subject_issuer))
    params += [("audience", a) for a in args.audience or []]
    params += [("resource", r) for r in args.resource or []]
    if args.scope:
        params.append(("scope", args.scope))
    if args.requested_token_type:
        params.append(("requested_token_type", args.requested_token_type))
    if args.actor_token_file:
        params += [("actor_token", read_secret(args.actor_token_file)), ("actor_token_type", args.actor_token_type or ACCESS_TOKEN_TYPE)]
    for kv in args.param or []:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            fail_usage(f"--param wants key=value, got {kv!r}")
        params.append((k, v))
    return params


def with_authlib(args, url: str, params: list[tuple[str, str]], secret: str | None) -> dict:
    names = [k for k, _ in params]
    if len(names) != len(set(names)):
        fail_usage("the authlib client sends each parameter once; use --client requests for repeated parameters")
    captured: dict = {}

    def keep_response(resp):
        captured["resp"] = resp
        return resp

    session = OAuth2Session(
        client_id=args.client_id,
        client_secret=secret,
        token_endpoint_auth_method=args.auth_method if args.client_id else None,
    )
    session.register_compliance_hook("access_token_response", keep_response)
    kwargs = dict(params)
    # Without a client id there is no client authentication at all (Authlib would send client_id=None).
    auth = None if args.client_id else (lambda r: r)
    parsed: dict = {"ok": True}
    try:
        session.fetch_token(url, grant_type=args.grant_type, auth=auth, timeout=args.timeout, **kwargs)
    except AuthlibBaseError as exc:  # Authlib read an RFC 6749 §5.2 error response
        parsed = {"ok": False, "error": exc.error, "description": exc.description}
    except (requests.HTTPError, ValueError) as exc:  # not a JSON object, or a 5xx
        parsed = {"ok": False, "error": type(exc).__name__, "description": str(exc)}
    if "resp" not in captured:
        raise requests.ConnectionError("no response")
    # "authlib" is Authlib's own reading of the answer: ok, or the error it raised.
    return {**describe(captured["resp"], "authlib"), "authlib": parsed}


def with_requests(args, url: str, params: list[tuple[str, str]], secret: str | None) -> dict:
    data = [("grant_type", args.grant_type), *params]
    auth = None
    if args.client_id:
        if args.auth_method == "client_secret_basic":
            auth = (args.client_id, secret or "")
        elif args.auth_method == "client_secret_post":
            data += [("client_id", args.client_id), ("client_secret", secret or "")]
        else:
            data.append(("client_id", args.client_id))
    resp = requests.post(url, data=data, auth=auth, timeout=args.timeout, allow_redirects=False, headers={"accept": "application/json"})
    return describe(resp, "requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--token-endpoint")
    where.add_argument("--issuer", help="find token_endpoint through OIDC discovery")
    parser.add_argument("--subject-token-file", required=True, help='file holding the subject token ("-" = stdin)')
    parser.add_argument("--subject-token-type", default=ACCESS_TOKEN_TYPE)
    parser.add_argument("--subject-issuer")
    parser.add_argument("--audience", action="append")
    parser.add_argument("--resource", action="append")
    parser.add_argument("--scope")
    parser.add_argument("--requested-token-type")
    parser.add_argument("--actor-token-file")
    parser.add_argument("--actor-token-type")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret-file")
    parser.add_argument("--auth-method", choices=("client_secret_basic", "client_secret_post", "none"), default="client_secret_basic")
    parser.add_argument("--client", choices=("authlib", "requests"), default="authlib")
    parser.add_argument("--grant-type", default=GRANT_TYPE)
    parser.add_argument("--param", action="append", help="extra form parameter key=value (repeatable)")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()

    url = args.token_endpoint
    if args.issuer:
        try:
            url = discover(args.issuer).get("token_endpoint")
        except Exception as exc:  # noqa: BLE001 - reported as JSON
            emit({"client": args.client, "error": "discovery", "message": str(exc)})
            sys.exit(2)
        if not url:
            emit({"client": args.client, "error": "discovery", "message": "no token_endpoint in discovery"})
            sys.exit(2)
    secret = read_secret(args.client_secret_file) if args.client_secret_file else None
    params = form_params(args)
    try:
        out = (with_authlib if args.client == "authlib" else with_requests)(args, url, params, secret)
    except requests.RequestException as exc:
        emit({"client": args.client, "error": type(exc).__name__, "message": str(exc)})
        sys.exit(1)
    out["tokenEndpoint"] = url
    emit(out)


if __name__ == "__main__":
    main()
