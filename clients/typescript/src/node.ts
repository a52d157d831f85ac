// The client in Node: the same services over gRPC (HTTP/2) to the gateway,
// with the bearer token (and tenant) on every call. Import it as
// "@bss/client/node"; browsers use `createBssTransport` (gRPC-Web) from
// "@bss/client".

import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bssHeaders, type BssTransportOptions } from "./index.js";

export * from "./index.js";

/** A gRPC transport to the gateway (`http://127.0.0.1:50050`, or https) that authenticates every call. */
export function createBssNodeTransport(options: BssTransportOptions): Transport {
  return createGrpcTransport({
    baseUrl: options.baseUrl,
    interceptors: [bssHeaders(options)],
    defaultTimeoutMs: options.timeoutMs ?? 10_000,
  });
}
