"""A protoc plugin (buf's `local` plugin of the top-level buf.gen.yaml) that
generates the package's stubs from the suite's contracts:

    buf generate        (from the repository's root; make clients)

Each contract of `bss/` gets its messages, their type stubs and its gRPC
stubs, made by grpcio-tools' bundled generators, so the generated code
matches the protobuf runtime the package asks for; every package folder gets
an `__init__.py`. Other inputs of the template (the google.rpc protos the
TypeScript client vendors) are left out: googleapis-common-protos ships them
for Python.
"""

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc

GENERATED = "bss/"


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    files = [name for name in request.file_to_generate if name.startswith(GENERATED)]
    if not files:
        return response
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(scratch)
        descriptors = folder / "contracts.binpb"
        descriptors.write_bytes(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        out = folder / "out"
        out.mkdir()
        code = protoc.main(
            ["protoc", f"--descriptor_set_in={descriptors}", f"--python_out={out}", f"--pyi_out={out}",
             f"--grpc_python_out={out}", *files]
        )
        if code != 0:
            response.error = f"grpcio-tools' protoc failed ({code})"
            return response
        generated = sorted(path for path in out.rglob("*") if path.is_file())
        # Regular packages, so setuptools finds and ships every module.
        packages = sorted({parent for path in generated for parent in path.relative_to(out).parents
                           if str(parent) != "."})
        for package in packages:
            response.file.add(name=f"{package}/__init__.py", content="")
        for path in generated:
            response.file.add(name=str(path.relative_to(out)), content=path.read_text(encoding="utf-8"))
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
