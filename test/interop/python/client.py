#!/usr/bin/env python3
"""A Python grpcio client of authjwt, as a Python user would write one.

The stubs are generated at start with grpcio-tools from the repository's proto/ into a temporary
directory (nothing generated is committed). Prints one JSON object:

  client.py getjwt --addr HOST:PORT --provider P --type oauth|oidc --account-id ID --token-file F
      {"code":0,"status":"OK","message":"","token":"…"}
      {"code":16,"status":"UNAUTHENTICATED","message":"…","errorInfo":{"reason":…,"domain":…,"metadata":{…}},
       "details":["type.googleapis.com/google.rpc.ErrorInfo"]}
  client.py health --addr HOST:PORT [--service NAME]
      {"code":0,"status":"OK","message":"","servingStatus":"SERVING"}

errorInfo is google.rpc.ErrorInfo decoded from the grpc-status-details-bin trailer (grpcio-status).
Exit 0 once the JSON was printed (whatever the gRPC code), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path

import grpc
import grpc_tools
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from grpc_tools import protoc

from interop_common import emit, fail_usage, read_secret

DEFAULT_PROTO_DIR = Path(__file__).resolve().parents[3] / "proto"


def generate_stubs(proto_dir: Path, out_dir: str):
    """protoc (grpcio-tools) for every .proto under proto_dir; returns the AuthAPI modules."""
    files = sorted(str(p.relative_to(proto_dir)) for p in proto_dir.rglob("*.proto"))
    if not files:
        fail_usage(f"no .proto under {proto_dir}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main(
        ["grpc_tools.protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files]
    )
    if rc != 0:
        sys.stderr.write(f"client.py: protoc failed ({rc})\n")
        sys.exit(1)
    sys.path.insert(0, out_dir)
    return importlib.import_module("auth.v1alpha1.auth_pb2"), importlib.import_module("auth.v1alpha1.auth_pb2_grpc")


def channel(args) -> grpc.Channel:
    if args.cacert:
        creds = grpc.ssl_channel_credentials(root_certificates=Path(args.cacert).read_bytes())
        options = [("grpc.ssl_target_name_override", args.servername)] if args.servername else []
        return grpc.secure_channel(args.addr, creds, options=options)
    return grpc.insecure_channel(args.addr)


def metadata(args) -> list[tuple[str, str]]:
    out = []
    for kv in args.rpc_header or []:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            fail_usage(f"--rpc-header wants key=value, got {kv!r}")
        out.append((k.lower(), v))
    return out


def status_of(err: grpc.RpcError) -> dict:
    code = err.code()
    out = {"code": code.value[0], "status": code.name, "message": err.details() or ""}
    try:
        st = rpc_status.from_call(err)
    except ValueError as exc:  # grpc-status-details-bin disagrees with grpc-status/grpc-message
        out["detailsError"] = str(exc)
        return out
    if st is not None:
        out["details"] = [d.type_url for d in st.details]
        for detail in st.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                out["errorInfo"] = {"reason": info.reason, "domain": info.domain, "metadata": dict(info.metadata)}
                break
    return out


def cmd_getjwt(args) -> None:
    token = read_secret(args.token_file) if args.token_file else ""
    with tempfile.TemporaryDirectory(prefix="authjwt-pystubs-") as tmp:
        pb, pb_grpc = generate_stubs(Path(args.proto_dir).resolve(), tmp)
        request = pb.GetJWTRequest()
        if not args.no_account:
            request.account.CopyFrom(
                pb.Account(provider=args.provider, type=args.type, provider_account_id=args.account_id, access_token=token)
            )
        with channel(args) as ch:
            try:
                res = pb_grpc.AuthAPIStub(ch).GetJWT(request, timeout=args.timeout, metadata=metadata(args))
            except grpc.RpcError as err:
                emit(status_of(err))
                return
    emit({"code": 0, "status": "OK", "message": "", "token": res.token})


def cmd_health(args) -> None:
    with channel(args) as ch:
        try:
            res = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout, metadata=metadata(args)
            )
        except grpc.RpcError as err:
            emit(status_of(err))
            return
    emit({"code": 0, "status": "OK", "message": "", "servingStatus": health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--addr", default="127.0.0.1:50051", help="server host:port")
    common.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    common.add_argument("--cacert", help="PEM CA file: TLS trusting it (default: plaintext)")
    common.add_argument("--servername", help="TLS server name override")
    common.add_argument("--rpc-header", action="append", help="gRPC metadata key=value (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("getjwt", parents=[common], help="call auth.v1alpha1.AuthAPI/GetJWT")
    g.add_argument("--proto-dir", default=str(DEFAULT_PROTO_DIR), help="root of the .proto files (default: the repository's proto/)")
    g.add_argument("--provider", default="")
    g.add_argument("--type", default="")
    g.add_argument("--account-id", default="")
    g.add_argument("--token-file", help='file holding the provider access token ("-" = stdin)')
    g.add_argument("--no-account", action="store_true", help="send a request without an Account")
    g.set_defaults(func=cmd_getjwt)

    h = sub.add_parser("health", parents=[common], help="call grpc.health.v1.Health/Check")
    h.add_argument("--service", default="", help='service name ("" = the whole server)')
    h.set_defaults(func=cmd_health)

    args = parser.parse_args()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    args.func(args)


if __name__ == "__main__":
    main()
