"""A client in another language, generated from proto/, drives the suite.

Usage: accounts_scenario.py TARGET TOKEN

`make python-env` generates and installs the Python client
(clients/python) into .venv. The scenario creates an account, reads it back, and checks that a bad email is
answered INVALID_ARGUMENT with a BadRequest field violation a Python program
can read. It exits non-zero on any mismatch.
"""

import sys
import uuid

import grpc

import bss_client
from bss.accounts.v1 import accounts_pb2, accounts_pb2_grpc


def field_violations(error: grpc.RpcError) -> list[str]:
    return list(bss_client.rich_error(error).fields)


def main(target: str, token: str) -> None:
    metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(target) as channel:
        accounts = accounts_pb2_grpc.AccountServiceStub(channel)
        suffix = uuid.uuid4().hex[:8]
        account = accounts_pb2.Account(
            code=f"PY-{suffix}",
            name=f"Python Client {suffix}",
            email="py@client.example",
            payment_types=["PAYMENT_TYPE_ON_ACCOUNT"],
        )
        created = accounts.CreateAccount(
            accounts_pb2.CreateAccountRequest(account=account, request_id=f"py-{suffix}"),
            metadata=metadata,
        ).account
        assert created.id, "the account has an id"

        read = accounts.GetAccount(accounts_pb2.GetAccountRequest(id=created.id), metadata=metadata).account
        assert read == created, f"read back {read} differs from {created}"
        assert read.name == account.name

        bad = accounts_pb2.Account(code=f"PY-BAD-{suffix}", name=f"Bad {suffix}", email="not-an-email")
        try:
            accounts.CreateAccount(accounts_pb2.CreateAccountRequest(account=bad), metadata=metadata)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.code()
            assert field_violations(error) == ["account.email"], field_violations(error)
        else:
            raise AssertionError("a bad email was accepted")
    print("python client scenario passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
