#!/usr/bin/python3
"""A gRPC client that is not virtfleet's code: Debian's python3-grpcio, with stubs generated at run time by
python3-grpc-tools from the standard protos of Debian's grpc-proto package. HealthInteropTest runs it against a
controller and an agent to check that gRPC's standard health checking and server reflection work for any client.

Usage: grpc_health_client.py TARGET SERVER_NAME CA_PEM [--bundle CREDENTIALS_PEM] ACTION [ARG]
  ACTION: check SERVICE | watch SERVICE | list | symbol NAME
Prints one JSON object: {"code": "OK" | a gRPC status code name, "detail": ..., plus the answer's fields}.
Exit 0 when the call was made (whatever its status), 2 on bad usage, 3 when a package is missing.
"""
import argparse
import importlib
import json
import os
import re
import sys
import tempfile

PROTO_ROOT = "/usr/share/grpc-proto"
INSTALL_HINT = ("apt-get install -y --no-install-recommends python3-grpcio python3-grpc-tools grpc-proto"
                " (deploy/dev/install-deps.sh)")

try:
    import grpc
    from grpc_tools import protoc
    from google.protobuf import descriptor_pb2
except ImportError as e:
    print(json.dumps({"code": "MISSING", "detail": "%s; install: %s" % (e, INSTALL_HINT)}))
    sys.exit(3)


def stubs():
    """Generates and imports the Python modules of health.proto and reflection.proto (v1)."""
    protos = ["grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto"]
    for p in protos:
        if not os.path.exists(os.path.join(PROTO_ROOT, p)):
            print(json.dumps({"code": "MISSING", "detail": "no %s/%s; install: %s" % (PROTO_ROOT, p, INSTALL_HINT)}))
            sys.exit(3)
    out = tempfile.mkdtemp(prefix="grpc-health-client-")
    if protoc.main(["protoc", "-I" + PROTO_ROOT, "--python_out=" + out, "--grpc_python_out=" + out] + protos) != 0:
        raise SystemExit("protoc failed on " + ", ".join(protos))
    # The generated modules live in the package grpc.health.v1 (and grpc.reflection.v1), inside grpc's own package:
    # make grpc's package look in the output directory too.
    grpc.__path__.append(os.path.join(out, "grpc"))
    return (importlib.import_module("grpc.health.v1.health_pb2"), importlib.import_module("grpc.health.v1.health_pb2_grpc"),
            importlib.import_module("grpc.reflection.v1.reflection_pb2"),
            importlib.import_module("grpc.reflection.v1.reflection_pb2_grpc"))


def pem_blocks(text, kind):
    return [m.group(0).encode() for m in re.finditer(
        r"-----BEGIN %s-----.+?-----END %s-----\n?" % (kind, kind), text, re.S)]


def credentials(ca_file, bundle_file):
    with open(ca_file) as f:
        ca = f.read().encode()
    if bundle_file is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)  # no client certificate
    with open(bundle_file) as f:
        bundle = f.read()
    keys = pem_blocks(bundle, "(?:EC |RSA )?PRIVATE KEY")
    certs = pem_blocks(bundle, "CERTIFICATE")
    # A virtfleet credentials file: the key, the holder's certificate, then the fleet CA's.
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=keys[0], certificate_chain=certs[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("server_name")
    ap.add_argument("ca")
    ap.add_argument("--bundle")
    ap.add_argument("action", choices=["check", "watch", "list", "symbol"])
    ap.add_argument("arg", nargs="?", default="")
    args = ap.parse_args()
    health_pb2, health_grpc, refl_pb2, refl_grpc = stubs()
    channel = grpc.secure_channel(args.target, credentials(args.ca, args.bundle),
                                  options=[("grpc.ssl_target_name_override", args.server_name)])
    result = {"code": "OK"}
    try:
        if args.action == "check":
            reply = health_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=args.arg), timeout=20)
            result["status"] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        elif args.action == "watch":
            replies = health_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=args.arg), timeout=20)
            first = next(replies)
            result["status"] = health_pb2.HealthCheckResponse.ServingStatus.Name(first.status)
            replies.cancel()
        else:
            if args.action == "list":
                request = refl_pb2.ServerReflectionRequest(list_services="")
            else:
                request = refl_pb2.ServerReflectionRequest(file_containing_symbol=args.arg)
            reply = next(refl_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([request]), timeout=20))
            if reply.HasField("error_response"):
                result["error"] = reply.error_response.error_message
            elif args.action == "list":
                result["services"] = sorted(s.name for s in reply.list_services_response.service)
            else:
                files = []
                for raw in reply.file_descriptor_response.file_descriptor_proto:
                    fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
                    files.append({"name": fd.name, "package": fd.package,
                                  "services": {s.name: [m.name for m in s.method] for s in fd.service}})
                result["files"] = files
    except grpc.RpcError as e:
        result = {"code": e.code().name, "detail": e.details()}
    finally:
        channel.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
