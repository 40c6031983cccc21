"""Helpers shared by the interop clients: JSON output, token input, OIDC discovery.

Output contract of every client: one JSON object per result on stdout (one line each), diagnostics on
stderr. Exit 0 when every result is a success (or, for the gRPC client, once a result was printed),
1 when a verification failed, 2 on bad usage or when discovery could not be read.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any, Iterator

import requests


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def fail_usage(message: str) -> None:
    sys.stderr.write(f"{sys.argv[0]}: {message}\n")
    sys.exit(2)


def read_secret(path: str) -> str:
    """The whole file (or stdin for "-"), surrounding whitespace trimmed: tokens stay off argv."""
    if path == "-":
        return sys.stdin.read().strip()
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def read_tokens(path: str) -> Iterator[str]:
    """Tokens one per line from a file or stdin ("-"); blank lines skipped."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    try:
        for line in stream:
            line = line.strip()
            if line:
                yield line
    finally:
        if stream is not sys.stdin:
            stream.close()


def unverified_header(token: str) -> dict[str, Any] | None:
    """The JOSE header, decoded without trusting it (for the report only)."""
    try:
        part = token.split(".", 1)[0]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except Exception:  # noqa: BLE001 - a report field, never a decision
        return None


def discover(issuer: str, timeout: float = 10.0) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §4: GET <issuer>/.well-known/openid-configuration, and the
    document's issuer must equal the one asked for (exactly)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    res = requests.get(url, timeout=timeout, allow_redirects=False)
    res.raise_for_status()
    doc = res.json()
    if doc.get("issuer") != issuer:
        raise ValueError(f"discovery issuer {doc.get('issuer')!r} != {issuer!r}")
    if not doc.get("jwks_uri"):
        raise ValueError("discovery has no jwks_uri")
    return doc
