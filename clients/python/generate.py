"""Generates the package's stubs from the suite's contracts.

    python generate.py        (make clients, make python-env)

Writes `src/bss/...` (messages, their type stubs and the gRPC stubs of every
contract in proto/) with grpcio-tools' bundled protoc, so the generated
code matches the protobuf runtime the package asks for. The google.rpc
protos the errors carry come from googleapis-common-protos.
"""

import pathlib
import shutil
import sys

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parents[1] / "proto"
OUT = HERE / "src"


def main() -> None:
    shutil.rmtree(OUT / "bss", ignore_errors=True)
    files = sorted(str(path.relative_to(PROTO)) for path in PROTO.rglob("*.proto"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        ["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={OUT}", f"--pyi_out={OUT}",
         f"--grpc_python_out={OUT}", *files]
    )
    if code != 0:
        sys.exit(f"protoc failed ({code})")
    # Regular packages, so setuptools finds and ships every module.
    for folder in [OUT / "bss", *(path for path in (OUT / "bss").rglob("*") if path.is_dir())]:
        (folder / "__init__.py").touch()
    print(f"generated {len(files)} contracts into {OUT / 'bss'}")


if __name__ == "__main__":
    main()
