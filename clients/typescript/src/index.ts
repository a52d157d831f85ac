// The BSS account suite's TypeScript client: every service's client is
// generated from proto/ (import them from "@bss/client/gen/bss/<context>/v1/<file>_pb"),
// and this module adds what every caller needs: a transport that sends the
// caller's bearer token, and the reasons and bad fields the suite's errors
// carry (google.rpc.ErrorInfo and BadRequest).

import { ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

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

/** A gRPC-Web transport to the gateway that authenticates every call. */
export function createBssTransport(options: BssTransportOptions): Transport {
  const bearer: Interceptor = (next) => async (request) => {
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
  /** Each bad field and why (BadRequest). */
  fields: { field: string; description: string }[];
}

/** The refusal carried by `error` (any thrown value). */
export function refusal(error: unknown): Refusal {
  const connect = ConnectError.from(error);
  const info = connect.findDetails(ErrorInfoSchema)[0];
  const bad = connect.findDetails(BadRequestSchema).flatMap((detail) => detail.fieldViolations);
  return {
    code: codeName(connect.code),
    message: connect.rawMessage,
    reason: info?.reason || undefined,
    fields: bad.map((violation) => ({ field: violation.field, description: violation.description })),
  };
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
