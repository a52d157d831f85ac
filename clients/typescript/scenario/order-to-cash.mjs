// Order to cash with the TypeScript client in Node, over gRPC through the
// gateway:
//
//   node scenario/order-to-cash.mjs http://GATEWAY PLATFORM_ADMIN_TOKEN
//
// A platform administrator opens a tenant and acts in it: an account with a
// credit limit, a product at 12.50 EUR, a quote of three (37.50), the order
// on account, its invoice (37.50), a payment of 20.00, and the balance
// billing and credit then hold (17.50). Two refusals are read in full.
// Exits non-zero on any mismatch (`make test` runs it against the suite).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { addAmounts, bssClient, compareAmounts, createBssNodeTransport, decimal, money, refusal } from "../dist/node.js";
import { TenantService } from "../dist/gen/bss/accounts/v1/tenants_pb.js";
import { AccountService } from "../dist/gen/bss/accounts/v1/accounts_pb.js";
import { CatalogService } from "../dist/gen/bss/pricing/v1/catalog_pb.js";
import { QuoteService } from "../dist/gen/bss/pricing/v1/quotes_pb.js";
import { OrderService, OrderStatus } from "../dist/gen/bss/billing/v1/orders_pb.js";
import { InvoiceService } from "../dist/gen/bss/billing/v1/invoices_pb.js";
import { PaymentService } from "../dist/gen/bss/billing/v1/payments_pb.js";
import { CreditService } from "../dist/gen/bss/credit/v1/credit_pb.js";
import { PaymentType } from "../dist/gen/bss/type/v1/common_pb.js";

const [baseUrl, token] = process.argv.slice(2);
const suffix = randomUUID().slice(0, 8);

async function refused(call) {
  try {
    await call();
  } catch (error) {
    return refusal(error);
  }
  assert.fail("the call was accepted");
}

const platform = createBssNodeTransport({ baseUrl, token: () => token });
const { tenant } = await bssClient(TenantService, platform).createTenant({
  tenant: { name: `Node Books ${suffix}`, defaultCurrency: "EUR" },
  requestId: `tenant-${suffix}`,
});
const transport = createBssNodeTransport({ baseUrl, token: () => token, tenant: () => tenant.id });

const { account } = await bssClient(AccountService, transport).createAccount({
  account: { code: `TS-${suffix}`, name: `Node Buyer ${suffix}`, enableOrdering: true, paymentTypes: [PaymentType.ON_ACCOUNT] },
  requestId: `account-${suffix}`,
});
const credit = bssClient(CreditService, transport);
await credit.changeCreditTerms({
  accountId: account.id,
  terms: { creditLimit: decimal("1000") },
  reason: "opening",
  requestId: `terms-${suffix}`,
});
await bssClient(CatalogService, transport).createProduct({
  product: { code: "WIDGET", name: "Widget", family: "tools", listPrice: money("12.50", "EUR") },
  requestId: `product-${suffix}`,
});

const quote = await bssClient(QuoteService, transport).quote({
  accountId: account.id,
  lines: [{ product: "WIDGET", quantity: decimal("3") }],
});
assert.equal(quote.lines[0].unitPrice.amount, "12.50");
assert.equal(quote.total.amount, "37.50");

const orders = bssClient(OrderService, transport);
const { order } = await orders.placeOrder({
  order: { accountId: account.id, lines: [{ product: "WIDGET", quantity: decimal("3") }], paymentType: PaymentType.ON_ACCOUNT },
  requestId: `order-${suffix}`,
});
assert.equal(order.status, OrderStatus.EXECUTED);
assert.equal(order.total.amount, "37.50");

const today = new Date().toISOString().slice(0, 10);
const { invoices } = await bssClient(InvoiceService, transport).generateInvoices({
  accountId: account.id,
  invoiceDate: today,
  post: true,
  requestId: `invoice-${suffix}`,
});
assert.deepEqual(invoices.map((invoice) => invoice.total.amount), ["37.50"]);

const payments = bssClient(PaymentService, transport);
await payments.recordPayment({
  payment: { accountId: account.id, amount: money("20.00", "EUR") },
  invoiceId: invoices[0].id,
  requestId: `payment-${suffix}`,
});
const owed = addAmounts("37.50", "-20.00");
assert.equal(owed, "17.50");
const { balance } = await payments.getAccountBalance({ accountId: account.id });
assert.equal(compareAmounts(balance.amount, owed), 0, `billing's balance ${balance.amount}`);
// Credit applies billing's events a moment later.
const deadline = Date.now() + 30_000;
let status;
for (;;) {
  ({ status } = await credit.getCreditStatus({ accountId: account.id }));
  const settled = compareAmounts(status.balance.amount, owed) === 0 && compareAmounts(status.reserved.amount, "0") === 0;
  if (settled || Date.now() > deadline) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
assert.equal(compareAmounts(status.balance.amount, owed), 0, `credit's balance ${status.balance.amount}`);
assert.equal(compareAmounts(status.reserved.amount, "0"), 0, `credit's reserved ${status.reserved.amount}`);

const noQuantity = await refused(() =>
  orders.placeOrder({
    order: { accountId: account.id, lines: [{ product: "WIDGET", quantity: decimal("0") }], paymentType: PaymentType.ON_ACCOUNT },
  }),
);
assert.equal(noQuantity.code, "INVALID_ARGUMENT");
assert.deepEqual(noQuantity.fields.map((violation) => violation.field), ["order.lines[0].quantity"]);
const notAllowed = await refused(() =>
  orders.placeOrder({
    order: { accountId: account.id, lines: [{ product: "WIDGET", quantity: decimal("1") }], paymentType: PaymentType.DIRECT_DEPOSIT },
  }),
);
assert.equal(notAllowed.code, "FAILED_PRECONDITION");
assert.equal(notAllowed.reason, "PAYMENT_TYPE_NOT_ALLOWED");
assert.equal(notAllowed.domain, "billing.bss");
assert.ok(notAllowed.rules.length > 0, "the rule it broke is named");
assert.throws(() => money(0.1, "EUR"), TypeError, "a number is never money");
console.log("typescript order-to-cash scenario passed");
