// The suite's clients for this page: the generated TypeScript client over
// gRPC-Web to the gateway, with the signed-in caller's token.

import { createContext, useContext, useMemo, type ReactNode } from "react";
import { bssClient, createBssTransport } from "@bss/client";
import { AccountService } from "@bss/client/gen/bss/accounts/v1/accounts_pb";
import { CreditService } from "@bss/client/gen/bss/credit/v1/credit_pb";
import { InvoiceService } from "@bss/client/gen/bss/billing/v1/invoices_pb";
import { OrderService } from "@bss/client/gen/bss/billing/v1/orders_pb";
import { LedgerService } from "@bss/client/gen/bss/billing/v1/ledger_pb";
import { PaymentService } from "@bss/client/gen/bss/billing/v1/payments_pb";
import { UserService } from "@bss/client/gen/bss/accounts/v1/users_pb";
import { AccountPricingService } from "@bss/client/gen/bss/pricing/v1/account_pricing_pb";
import { ContractService } from "@bss/client/gen/bss/pricing/v1/contracts_pb";
import { QuoteService } from "@bss/client/gen/bss/pricing/v1/quotes_pb";
import { ResellerSyncService } from "@bss/client/gen/bss/resellersync/v1/sync_pb";
import { TenantService } from "@bss/client/gen/bss/accounts/v1/tenants_pb";
import type { Client } from "@connectrpc/connect";
import { useSession } from "./session";

export interface Api {
  accounts: Client<typeof AccountService>;
  credit: Client<typeof CreditService>;
  invoices: Client<typeof InvoiceService>;
  orders: Client<typeof OrderService>;
  ledger: Client<typeof LedgerService>;
  payments: Client<typeof PaymentService>;
  users: Client<typeof UserService>;
  pricing: Client<typeof AccountPricingService>;
  contracts: Client<typeof ContractService>;
  quotes: Client<typeof QuoteService>;
  resellerSync: Client<typeof ResellerSyncService>;
  /** Tenants, as a platform administrator manages them (in no tenant). */
  tenants: Client<typeof TenantService>;
}

const ApiContext = createContext<Api | null>(null);

export function ApiProvider({ gatewayUrl, children }: { gatewayUrl: string; children: ReactNode }) {
  const { token, actingTenant } = useSession();
  const api = useMemo<Api>(() => {
    const bearer = () => token ?? undefined;
    const transport = createBssTransport({ baseUrl: gatewayUrl, token: bearer, tenant: () => actingTenant ?? undefined });
    return {
      accounts: bssClient(AccountService, transport),
      credit: bssClient(CreditService, transport),
      invoices: bssClient(InvoiceService, transport),
      orders: bssClient(OrderService, transport),
      ledger: bssClient(LedgerService, transport),
      payments: bssClient(PaymentService, transport),
      users: bssClient(UserService, transport),
      pricing: bssClient(AccountPricingService, transport),
      contracts: bssClient(ContractService, transport),
      quotes: bssClient(QuoteService, transport),
      resellerSync: bssClient(ResellerSyncService, transport),
      tenants: bssClient(TenantService, createBssTransport({ baseUrl: gatewayUrl, token: bearer })),
    };
  }, [gatewayUrl, token, actingTenant]);
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) {
    throw new Error("useApi outside ApiProvider");
  }
  return api;
}

/**
 * A new request id (a random UUID, made with getRandomValues, which pages
 * served over plain http have too): made once per decision or form, so a
 * retried submission is the same request and acts once.
 */
export function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
