// The BSS account suite's TypeScript client: every service's client is
// generated from proto/ (import them from "@bss/client/gen/bss/<context>/v1/<file>_pb"),
// and this module adds what every caller needs: a transport that sends the
// caller's bearer token, and the reasons and bad fields the suite's errors
// carry (google.rpc.ErrorInfo and BadRequest).

import { ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { BadRequestSchema, ErrorInfoSchema, PreconditionFailureSchema } from "./gen/google/rpc/error_details_pb.js";
import { create } from "@bufbuild/protobuf";
import { MoneySchema, DecimalSchema, type Money, type Decimal } from "./gen/bss/type/v1/money_pb.js";

export { ConnectError, Code } from "@connectrpc/connect";

/** Where the suite is and who calls it. */
export interface BssTransportOptions {
  /** The gateway, for example `https://bss.example.com`. */
  baseUrl: string;
  /** The caller's bearer token, read at each call (so a renewed one is used); none: anonymous. */
  token: () => string | undefined;
  /**
   * The tenant to act in (`x-bss-tenant`), read at each call: for a
   * platform administrator's token, or a service's `*` token. Other
   * callers act in their token's tenant whatever this names.
   */
  tenant?: () => string | undefined;
  /** A call's deadline in milliseconds, unless the call sets its own. */
  timeoutMs?: number;
}

/** Adds the caller's token (and tenant) to every call. */
export function bssHeaders(options: BssTransportOptions): Interceptor {
  return (next) => async (request) => {
    const token = options.token();
    if (token) {
      request.header.set("authorization", `Bearer ${token}`);
    }
    const tenant = options.tenant?.();
    if (tenant) {
      request.header.set("x-bss-tenant", tenant);
    }
    return next(request);
  };
}

/** A gRPC-Web transport to the gateway that authenticates every call (browsers; Node: "@bss/client/node"). */
export function createBssTransport(options: BssTransportOptions): Transport {
  const bearer = bssHeaders(options);
  return createGrpcWebTransport({
    baseUrl: options.baseUrl,
    interceptors: [bearer],
    defaultTimeoutMs: options.timeoutMs ?? 10_000,
  });
}

/** A client of `service` over `transport`. */
export function bssClient<T extends DescService>(service: T, transport: Transport): Client<T> {
  return createClient(service, transport);
}

/** What the suite said about a refused call. */
export interface Refusal {
  /** The gRPC code's name, for example `FAILED_PRECONDITION`. */
  code: string;
  message: string;
  /** The rule that refused it (ErrorInfo.reason), for example `CREDIT_LIMIT_EXCEEDED`. */
  reason?: string;
  /** Where the rule lives (ErrorInfo.domain), for example `billing.bss`. */
  domain?: string;
  /** Each bad field and why (BadRequest). */
  fields: { field: string; description: string }[];
  /** Each rule broken, what it is about and why (PreconditionFailure). */
  rules: { type: string; subject: string; description: string }[];
}

/** The refusal carried by `error` (any thrown value). */
export function refusal(error: unknown): Refusal {
  const connect = ConnectError.from(error);
  const info = connect.findDetails(ErrorInfoSchema)[0];
  const bad = connect.findDetails(BadRequestSchema).flatMap((detail) => detail.fieldViolations);
  const broken = connect.findDetails(PreconditionFailureSchema).flatMap((detail) => detail.violations);
  return {
    code: codeName(connect.code),
    message: connect.rawMessage,
    reason: info?.reason || undefined,
    domain: info?.domain || undefined,
    fields: bad.map((violation) => ({ field: violation.field, description: violation.description })),
    rules: broken.map((rule) => ({ type: rule.type, subject: rule.subject, description: rule.description })),
  };
}

// Money and quantities travel as exact decimal strings ("37.50"); these
// helpers keep them exact (BigInt arithmetic, never a JavaScript number).

const DECIMAL = /^-?\d+(\.\d+)?$/;

function exact(value: string): string {
  if (typeof value !== "string" || !DECIMAL.test(value)) {
    throw new TypeError(`not an exact decimal string: ${String(value)} (money is never a number)`);
  }
  return value;
}

/** A Money of an exact decimal string in a currency (ISO 4217 code). */
export function money(amount: string, currencyCode: string): Money {
  return create(MoneySchema, { amount: exact(amount), currencyCode });
}

/** A contract Decimal (a quantity or a rate) of an exact decimal string. */
export function decimal(value: string): Decimal {
  return create(DecimalSchema, { value: exact(value) });
}

/** `value` as an integer count of 10^-scale units, and that scale. */
function scaled(value: string): [bigint, number] {
  const [whole, fraction = ""] = exact(value).replace("-", "").split(".");
  const units = BigInt(whole + fraction);
  return [value.startsWith("-") ? -units : units, fraction.length];
}

/** The exact sum of decimal strings ("17.50" + "20" is "37.50"), at the largest scale among them. */
export function addAmounts(...amounts: string[]): string {
  const parts = amounts.map(scaled);
  const scale = Math.max(0, ...parts.map(([, s]) => s));
  const total = parts.reduce((sum, [units, s]) => sum + units * 10n ** BigInt(scale - s), 0n);
  const sign = total < 0n ? "-" : "";
  const digits = (total < 0n ? -total : total).toString().padStart(scale + 1, "0");
  return scale === 0 ? sign + digits : `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** -1, 0 or 1 as `a` is below, equal to or above `b` ("17.5" equals "17.50"). */
export function compareAmounts(a: string, b: string): number {
  const difference = addAmounts(a, b.startsWith("-") ? b.slice(1) : `-${b}`);
  return /^0(\.0+)?$/.test(difference.replace("-", "")) ? 0 : difference.startsWith("-") ? -1 : 1;
}

const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

function codeName(code: number): string {
  return CODE_NAMES[code] ?? `CODE_${code}`;
}
