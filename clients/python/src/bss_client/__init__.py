"""Python client of the BSS account suite.

The stubs are generated from the suite's contracts into the `bss` package
(`from bss.accounts.v1 import accounts_pb2, accounts_pb2_grpc`); this module
adds what every caller needs beside them:

- `connect(target, token)`: a channel to the gateway whose every call
  carries the bearer token (and, for a platform administrator, the tenant it
  acts in);
- `money(...)`, `amount(...)`, `decimal(...)`, `quantity(...)`: the
  contracts' exact decimal strings to and from `decimal.Decimal`, never a
  float;
- `rich_error(error)`: what a refusal says beyond its code, read from its
  `google.rpc` details: the reason and domain of its ErrorInfo, the fields
  of its BadRequest, the rules of its PreconditionFailure, and how long its
  RetryInfo asks to wait.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal as _decimal
from typing import Any, Callable, Optional, Sequence, Tuple

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from bss.type.v1 import money_pb2

__all__ = [
    "FieldViolation",
    "PreconditionViolation",
    "RichError",
    "amount",
    "connect",
    "decimal",
    "money",
    "quantity",
    "rich_error",
]


class _Headers(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the same headers to every call."""

    def __init__(self, headers: Sequence[Tuple[str, str]]) -> None:
        self._headers = list(headers)

    def _with_headers(self, details: Any) -> Any:
        metadata = list(details.metadata or []) + self._headers
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._with_headers(details), request)

    def intercept_unary_stream(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._with_headers(details), request)

    def intercept_stream_unary(self, continuation: Callable, details: Any, requests: Any) -> Any:
        return continuation(self._with_headers(details), requests)

    def intercept_stream_stream(self, continuation: Callable, details: Any, requests: Any) -> Any:
        return continuation(self._with_headers(details), requests)


@dataclasses.dataclass(frozen=True)
class _Details(grpc.ClientCallDetails):
    method: str
    timeout: Optional[float]
    metadata: Any
    credentials: Any
    wait_for_ready: Optional[bool]
    compression: Any

    def __init__(self, details: Any, metadata: Any) -> None:
        for field in ("method", "timeout", "credentials", "wait_for_ready", "compression"):
            object.__setattr__(self, field, getattr(details, field, None))
        object.__setattr__(self, "metadata", metadata)


def connect(
    target: str,
    token: str,
    *,
    tenant: Optional[str] = None,
    credentials: Optional[grpc.ChannelCredentials] = None,
) -> grpc.Channel:
    """A channel to the gateway at `target` ("host:port") whose every call
    carries `token`; with `tenant`, a platform administrator's calls act in
    that tenant (`x-bss-tenant`). Plaintext unless `credentials` are given
    (`grpc.ssl_channel_credentials()` for a gateway behind TLS)."""
    headers = [("authorization", f"Bearer {token}")]
    if tenant:
        headers.append(("x-bss-tenant", tenant))
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    return grpc.intercept_channel(channel, _Headers(headers))


def _exact(value: Any) -> str:
    """`value` as the contracts' plain decimal string ("37.50", never
    "1E+2"): a Decimal, an int or a decimal string; never a float or a bool."""
    if isinstance(value, (float, bool)):
        raise TypeError("money and quantities are exact: pass a Decimal, an int or a string, never a float")
    try:
        number = _decimal.Decimal(str(value))
    except _decimal.InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return format(number, "f")


def money(value: Any, currency_code: str) -> money_pb2.Money:
    """An exact amount in a currency (ISO 4217 code) as the contracts take it."""
    return money_pb2.Money(currency_code=currency_code, amount=_exact(value))


def amount(value: money_pb2.Money) -> _decimal.Decimal:
    """The exact amount of a Money, as a Decimal (its currency is
    `value.currency_code`)."""
    return _decimal.Decimal(value.amount)


def decimal(value: Any) -> money_pb2.Decimal:
    """An exact quantity or rate as the contracts take it."""
    return money_pb2.Decimal(value=_exact(value))


def quantity(value: money_pb2.Decimal) -> _decimal.Decimal:
    """The exact value of a contract Decimal."""
    return _decimal.Decimal(value.value)


@dataclasses.dataclass(frozen=True)
class FieldViolation:
    """A bad field of the request (`order.lines[0].quantity`) and why."""

    field: str
    description: str


@dataclasses.dataclass(frozen=True)
class PreconditionViolation:
    """A rule the request broke: its type, what it is about, and why."""

    type: str
    subject: str
    description: str


@dataclasses.dataclass(frozen=True)
class RichError:
    """A refusal as the suite explains it."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)
    field_violations: Tuple[FieldViolation, ...] = ()
    precondition_violations: Tuple[PreconditionViolation, ...] = ()
    retry_delay: Optional[datetime.timedelta] = None

    @property
    def fields(self) -> Tuple[str, ...]:
        """The bad fields' names."""
        return tuple(violation.field for violation in self.field_violations)


def rich_error(error: grpc.RpcError) -> RichError:
    """What a failed call's status and its `google.rpc` details say."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    found: dict = {"code": code, "message": message or ""}
    try:
        status = rpc_status.from_call(error) if hasattr(error, "trailing_metadata") else None
    except ValueError:
        # The details disagree with the message (a proxy shortened it): the
        # code and message stand alone.
        status = None
    fields, rules = [], []
    for detail in status.details if status is not None else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            found.update(reason=info.reason, domain=info.domain, metadata=dict(info.metadata))
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            rules.extend(PreconditionViolation(v.type, v.subject, v.description) for v in failure.violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            found["retry_delay"] = retry.retry_delay.ToTimedelta()
    return RichError(**found, field_violations=tuple(fields), precondition_violations=tuple(rules))
