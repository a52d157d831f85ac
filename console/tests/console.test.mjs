// The console in a real browser (Debian's Chromium, headless, driven by
// playwright-core) against the suite as `make run` starts it: sign in with
// the development token or through the suite's sandbox identity provider,
// search accounts, open one and read its tabs.
// Screenshots of the pages go to target/console-screenshots/ (copied by
// hand into console/screenshots/, which the README shows).
//
// Needs: `make console` (console/dist), the suite's binary
// (target/debug/bss-suite) and Chromium (`deploy/local/deps.sh`).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import { createBssTransport, bssClient } from "@bss/client";
import { AccountService, AddressType } from "@bss/client/gen/bss/accounts/v1/accounts_pb";
import { UserService } from "@bss/client/gen/bss/accounts/v1/users_pb";
import { CreditService } from "@bss/client/gen/bss/credit/v1/credit_pb";
import { CreditAction } from "@bss/client/gen/bss/credit/v1/settings_pb";
import { CatalogService } from "@bss/client/gen/bss/pricing/v1/catalog_pb";
import { AccountPricingService } from "@bss/client/gen/bss/pricing/v1/account_pricing_pb";
import { OrderService, OrderStatus } from "@bss/client/gen/bss/billing/v1/orders_pb";
import { InvoiceService } from "@bss/client/gen/bss/billing/v1/invoices_pb";
import { PaymentType } from "@bss/client/gen/bss/type/v1/common_pb";
import { TenantService } from "@bss/client/gen/bss/accounts/v1/tenants_pb";
import { AccountKind } from "@bss/client/gen/bss/accounts/v1/accounts_pb";
import { SubscriptionService } from "@bss/client/gen/bss/billing/v1/subscriptions_pb";
import { ResellerSyncService } from "@bss/client/gen/bss/resellersync/v1/sync_pb";
import { execFileSync } from "node:child_process";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const shots = path.join(root, "target/console-screenshots");
// Port 0: the suite takes free ports and prints them, so runs never clash.
const basePort = Number(process.env.BSS_CONSOLE_TEST_PORT ?? 0);
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

let suite;
let browser;
let started;
let dataDir;
/** Errors the pages threw, asserted empty by each test. */
const pageErrors = [];

/** Starts `bss-suite run` with a private Postgres of its own; resolves with what it prints. */
function startSuite() {
  // A private Postgres in a folder of this run's own.
  dataDir = mkdtempSync(path.join(os.tmpdir(), "bss-console-test-"));
  const env = { ...process.env, BSS_CONSOLE_DIR: path.join(root, "console/dist") };
  delete env.DATABASE_URL;
  suite = spawn(path.join(root, "target/debug/bss-suite"), ["run", "--base-port", String(basePort), "--data-dir", dataDir], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the suite did not start:\n${output}`)), 120_000);
    const read = (chunk) => {
      output += chunk;
      const console = output.match(/Console: (http:\/\/\S+)/);
      const gateway = output.match(/^\s+gateway\s+(\S+)$/m);
      const token = output.match(/Tenant admin token for the demo tenant \(12 h\):\n\s+(\S+)/);
      const platform = output.match(/Platform admin token \(12 h\):\n\s+(\S+)/);
      const tenant = output.match(/Demo tenant: (\S+)/);
      const sandboxIdp = output.match(/SANDBOX identity provider (http:\/\/[^\s)]+)/);
      if (console && gateway && token && platform && tenant && sandboxIdp && output.includes("Ctrl-C stops everything.")) {
        clearTimeout(timer);
        resolve({
          consoleUrl: console[1],
          token: token[1],
          platformToken: platform[1],
          tenantId: tenant[1],
          sandboxIdp: sandboxIdp[1],
          gatewayUrl: `http://${gateway[1]}`,
        });
      }
    };
    suite.stdout.on("data", read);
    suite.stderr.on("data", (chunk) => (output += chunk));
    suite.on("exit", (code) => reject(new Error(`the suite stopped (${code}):\n${output}`)));
  });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  started = await startSuite();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  if (suite && suite.exitCode === null) {
    // Stopped as Ctrl-C stops it (its Postgres too), killed if it hangs.
    const stopped = new Promise((resolve) => suite.on("exit", resolve));
    suite.kill("SIGTERM");
    const killer = setTimeout(() => suite.kill("SIGKILL"), 20_000);
    await stopped;
    clearTimeout(killer);
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// Whatever ends this process, the suite does not outlive it.
process.on("exit", () => {
  if (suite && suite.exitCode === null) suite.kill("SIGKILL");
});

/** A page in a fixed locale and time zone (money and dates read the same on every machine). */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "en-US", timezoneId: "UTC" });
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  return page;
}

/** Fails on any serious or critical WCAG 2 A/AA violation axe finds on the page as it is. */
async function accessible(page, what) {
  const { violations } = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
  const serious = violations
    .filter((violation) => ["serious", "critical"].includes(violation.impact))
    .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`);
  assert.deepEqual(serious, [], `${what} is not accessible`);
}

/** A new page signed in with the tenant admin token. */
async function signedIn() {
  const page = await newPage();
  await page.goto(started.consoleUrl);
  await page.getByLabel("Bearer token").fill(started.token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { name: "Accounts" }).waitFor();
  return page;
}

/** The suite's clients as Node calls them, with the tenant admin token. */
function clients() {
  const transport = createBssTransport({ baseUrl: started.gatewayUrl, token: () => started.token });
  return {
    accounts: bssClient(AccountService, transport),
    credit: bssClient(CreditService, transport),
    catalog: bssClient(CatalogService, transport),
    orders: bssClient(OrderService, transport),
    invoices: bssClient(InvoiceService, transport),
    pricing: bssClient(AccountPricingService, transport),
    users: bssClient(UserService, transport),
    tenants: bssClient(TenantService, transport),
  };
}

/** Today in Tokyo, YYYY-MM-DD. */
function tokyoToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Tokyo" }).format(new Date());
}

/** Waits until at least two minutes are left before midnight in `timeZone` (a story that reads "today" ends the same day). */
async function clearOfMidnight(timeZone) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date());
  const minutes = Number(parts.find((part) => part.type === "hour").value) * 60 + Number(parts.find((part) => part.type === "minute").value);
  const left = 24 * 60 - minutes;
  if (left <= 2) await new Promise((resolve) => setTimeout(resolve, (left + 1) * 60_000));
}

test("an administrator signs in, finds an account and reads it", async () => {
  // Two accounts made through the same generated client, from Node.
  const { accounts, users } = clients();
  const acme = await accounts.createAccount({ account: { code: "ACME", name: "Acme Trading", email: "books@acme.example" } });
  await accounts.createAccount({ account: { code: "GLOBEX", name: "Globex", email: "ap@globex.example" } });
  await accounts.suspendAccount({ id: acme.account.id, reason: "cheque bounced" });
  await accounts.createContact({
    accountId: acme.account.id,
    contact: { firstName: "Ada", lastName: "Lovelace", email: "ada@acme.example", roles: ["billing"] },
  });
  await accounts.createAddress({
    accountId: acme.account.id,
    address: { type: AddressType.BILLING, lines: ["1 Engine Street"], city: "London", postalCode: "N1 9GU", countryCode: "GB" },
  });
  await users.createUser({
    user: { accountId: acme.account.id, email: "buyer@acme.example", displayName: "Acme Buyer" },
  });

  const page = await newPage();
  await page.goto(started.consoleUrl);

  // A token that is not one is refused on the page; the real one signs in.
  await page.getByLabel("Bearer token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "not a token" }).waitFor();
  await page.screenshot({ path: path.join(shots, "sign-in.png") });
  await accessible(page, "the sign-in page");
  await page.getByLabel("Bearer token").fill(started.token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { name: "Accounts" }).waitFor();

  // Every account at first, then the one a search finds.
  const table = page.getByRole("table", { name: "Accounts found" });
  await table.getByRole("link", { name: "GLOBEX" }).waitFor();
  // The search an index serves on a tenant of any size: the code's start.
  const searchBy = async (name) => {
    await page.getByRole("combobox", { name: "Search by" }).click();
    await page.getByRole("option", { name, exact: true }).click();
  };
  await searchBy("Code starts with");
  await page.getByLabel("Text").fill("GLO");
  await page.getByRole("button", { name: "Find" }).click();
  await table.getByRole("link", { name: "ACME", exact: true }).waitFor({ state: "detached" });
  await table.getByRole("link", { name: "GLOBEX" }).waitFor();
  await searchBy("Name contains");
  await page.getByLabel("Text").fill("acme");
  await page.getByRole("button", { name: "Find" }).click();
  await table.getByRole("link", { name: "GLOBEX" }).waitFor({ state: "detached" });
  const rows = await table.locator("tbody tr").allInnerTexts();
  assert.equal(rows.length, 1, rows.join("\n"));
  const cells = rows[0].split(/\s*\t\s*|\n/).filter(Boolean);
  assert.deepEqual(cells, ["ACME", "Acme Trading", "SUSPENDED", "books@acme.example", "EUR"]);
  await page.screenshot({ path: path.join(shots, "accounts.png") });
  await accessible(page, "the account search");

  // The account: its details, and its history read from accounts.
  await table.getByRole("link", { name: "ACME" }).click();
  await page.waitForURL(`**/accounts/${acme.account.id}`);
  await page.getByRole("cell", { name: "books@acme.example" }).waitFor();
  await page.screenshot({ path: path.join(shots, "account-details.png") });
  await accessible(page, "an account's details");
  await page.getByRole("tab", { name: "History" }).click();
  const history = page.getByRole("table", { name: "Lifecycle history" });
  await history.getByRole("cell", { name: "SUSPENDED" }).waitFor();
  await history.getByRole("cell", { name: "cheque bounced" }).waitFor();
  // Times in the tenant's time zone (Tokyo, UTC+9, no summer time), as
  // accounts recorded them.
  await clients().tenants.setTimeZone({ timeZone: "Asia/Tokyo" });
  await page.reload();
  await page.getByRole("tab", { name: "History" }).click();
  await page.getByText("Times in Asia/Tokyo").waitFor();
  const recorded = await accounts.listAccountHistory({ accountId: acme.account.id });
  const suspended = recorded.entries.find((entry) => entry.reason === "cheque bounced");
  const inTokyo = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Tokyo" }).format(
    new Date(Number(suspended.occurTime.seconds) * 1000),
  );
  await history.getByRole("row").filter({ hasText: "cheque bounced" }).getByRole("cell", { name: inTokyo }).waitFor();
  // Its contacts, addresses and users, each as accounts keeps them.
  await page.getByRole("tab", { name: "Contacts" }).click();
  const contact = page.getByRole("table", { name: "Contacts" }).getByRole("row").filter({ hasText: "Ada Lovelace" });
  await contact.getByRole("cell", { name: "ada@acme.example" }).waitFor();
  await page.getByRole("tab", { name: "Addresses" }).click();
  const address = page.getByRole("table", { name: "Addresses" }).getByRole("row").filter({ hasText: "1 Engine Street" });
  await address.getByRole("cell", { name: "BILLING" }).waitFor();
  await address.getByRole("cell", { name: "GB" }).waitFor();
  await page.getByRole("tab", { name: "Users" }).click();
  await page.getByRole("table", { name: "Users" }).getByRole("cell", { name: "buyer@acme.example" }).waitFor();

  // A deep link survives a reload (the console service serves the app there).
  await page.reload();
  await page.getByRole("cell", { name: "books@acme.example" }).waitFor();
  assert.deepEqual(pageErrors, []);
  await page.close();
});

/** Polls `read` until `done` holds of what it returns (10 s at most); the last value read. */
async function until(read, done) {
  let value;
  for (let attempt = 0; attempt < 100; attempt++) {
    value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return value;
}

test("a held order approved in the console is reserved by credit, executed by billing and invoiced by a run started in the console", async () => {
  const { accounts, credit, catalog, orders, invoices, pricing, tenants } = clients();
  // Dates in Tokyo; the story reads "today" there, so it starts well clear
  // of midnight in Tokyo.
  await tenants.setTimeZone({ timeZone: "Asia/Tokyo" });
  await clearOfMidnight("Asia/Tokyo");
  const { account } = await accounts.createAccount({
    account: { code: "HOLDME", name: "Hold Me Ltd", enableOrdering: true, paymentTypes: [PaymentType.ON_ACCOUNT] },
  });
  await credit.changeCreditTerms({
    accountId: account.id,
    terms: { creditLimit: { value: "100" }, policy: { outOfCreditAction: CreditAction.HOLD_FOR_APPROVAL } },
    reason: "opening",
  });
  const { product } = await catalog.createProduct({
    product: { code: "WIDGET", name: "Widget", family: "tools", listPrice: { currencyCode: "EUR", amount: "60.00" } },
  });
  // 3 x 60.00 is past the limit of 100: credit holds it for approval.
  const placed = await orders.placeOrder({
    order: { accountId: account.id, paymentType: PaymentType.ON_ACCOUNT, lines: [{ product: "WIDGET", quantity: { value: "3" } }] },
  });
  assert.equal(placed.order.status, OrderStatus.HELD_FOR_APPROVAL);
  const reference = placed.order.reference;

  const page = await signedIn();
  await page.getByRole("link", { name: "Held orders" }).click();
  const queue = page.getByRole("table", { name: "Orders waiting for approval" });
  const row = queue.getByRole("row").filter({ hasText: reference });
  await row.getByText("€180.00").waitFor();
  await row.getByText("CREDIT_LIMIT_EXCEEDED").waitFor();
  await page.screenshot({ path: path.join(shots, "held-orders.png") });
  await accessible(page, "the held-orders queue");

  // Approved with a note: gone from the queue.
  await row.getByRole("button", { name: `Approve ${reference}` }).click();
  const dialog = page.getByRole("dialog", { name: `Approve order ${reference}` });
  await dialog.getByLabel(/How is it paid/).fill("paid by bank transfer on delivery");
  await dialog.getByRole("button", { name: "Approve" }).click();
  await page.getByText("No order is waiting for approval.").waitFor();

  // Credit's side, in the console: 180.00 reserved on the account.
  await page.goto(`${started.consoleUrl}/accounts/${account.id}`);
  await page.getByRole("tab", { name: "Credit" }).click();
  const status = page.getByRole("table", { name: "Credit status" });
  await status.getByRole("row", { name: /Reserved/ }).getByText("€180.00").waitFor();
  await status.getByRole("row", { name: /Credit limit/ }).getByText("€100.00").waitFor();
  await page.getByRole("table", { name: "Reservations" }).getByRole("row").filter({ hasText: reference }).waitFor();
  // Exposure over time (credit's history): today, in Tokyo, closes with
  // the reservation over the limit, nothing available.
  const todayRow = page.getByRole("table", { name: "Exposure changes" }).getByRole("row").filter({ hasText: tokyoToday() });
  await todayRow.getByText("€180.00").first().waitFor();
  assert.deepEqual(await todayRow.getByRole("cell").allInnerTexts(), [tokyoToday(), "€0.00", "€180.00", "€180.00", "€100.00", "-€80.00"]);
  await page.screenshot({ path: path.join(shots, "account-credit.png"), fullPage: true });
  await accessible(page, "an account's credit");
  await page.close();

  // And read back from every side: credit's held order and billing's order.
  const decided = await credit.listHeldOrders({ pageSize: 10 });
  const mine = decided.heldOrders.find((order) => order.orderReference === reference);
  assert.equal(mine?.note, "paid by bank transfer on delivery");
  const order = await until(
    async () => (await orders.getOrder({ id: placed.order.id })).order,
    (order) => order.status === OrderStatus.EXECUTED,
  );
  assert.equal(order.status, OrderStatus.EXECUTED, "billing executes the order credit approved");

  // A billing run started in the console, watched until it completes.
  const runs = await signedIn();
  await runs.getByRole("link", { name: "Billing runs" }).click();
  await runs.getByRole("button", { name: "Start billing run" }).click();
  await runs.waitForURL("**/billing-runs/*");
  await runs.getByText("Completed").waitFor();
  const run = runs.getByRole("table", { name: "Billing run" });
  await run.getByRole("row", { name: /Accounts invoiced/ }).getByText("1 of 1").waitFor();
  await run.getByRole("row", { name: /Invoices made/ }).getByText("1", { exact: true }).waitFor();
  await runs.screenshot({ path: path.join(shots, "billing-run.png") });
  await accessible(runs, "a billing run");

  // The account's enquiry in the console: the posted invoice, the order,
  // the transaction.
  await runs.goto(`${started.consoleUrl}/accounts/${account.id}`);
  await runs.getByRole("tab", { name: "Enquiry" }).click();
  const invoiceRow = runs.getByRole("table", { name: "Invoices" }).getByRole("row").filter({ hasText: "POSTED" });
  await invoiceRow.getByRole("cell", { name: "€180.00" }).waitFor();
  const orderRow = runs.getByRole("table", { name: "Orders" }).getByRole("row").filter({ hasText: reference });
  await orderRow.getByRole("cell", { name: "EXECUTED" }).waitFor();
  const posted = runs.getByRole("table", { name: "Transactions" }).getByRole("row").filter({ hasText: "INVOICE" });
  await posted.getByRole("cell", { name: "€180.00" }).first().waitFor();
  // Its charts: the balance up to today (posted today; days in the
  // tenant's time zone, Tokyo), and the invoice in the aging, current (due
  // later, by the tenant's default terms).
  const today = tokyoToday();
  await runs.getByText(new RegExp(`€180\\.00 on ${today}; credit limit €100\\.00`)).waitFor();
  const aged = runs.getByRole("table", { name: "Aging in EUR" }).locator("tbody tr");
  await aged.getByRole("cell", { name: "€180.00" }).first().waitFor();
  assert.deepEqual(await aged.locator("td").allInnerTexts(), ["€180.00", "€0.00", "€0.00", "€0.00", "€0.00", "€180.00"]);
  await runs.screenshot({ path: path.join(shots, "account-enquiry.png"), fullPage: true });
  await accessible(runs, "an account's enquiry");
  // The tenant's receivables: this invoice is all that is owed.
  await runs.getByRole("link", { name: "Receivables" }).click();
  const receivables = runs.getByRole("table", { name: "Receivables in EUR" }).locator("tbody tr td");
  await receivables.first().waitFor();
  assert.deepEqual(await receivables.allInnerTexts(), ["€180.00", "€0.00", "€0.00", "€0.00", "€0.00", "€180.00"]);
  await runs.getByText(`€180.00 owed on 1 invoice, as of ${today}`).waitFor();
  await runs.screenshot({ path: path.join(shots, "receivables.png") });
  await accessible(runs, "the receivables");
  await runs.goto(`${started.consoleUrl}/accounts/${account.id}`);

  // Its own price with a quantity break, in the pricing tab; the quote
  // tester shows why it wins over the list price, and names a bad field.
  await pricing.createAccountPrice({
    accountPrice: {
      accountId: account.id,
      productId: product.id,
      price: { currencyCode: "EUR", amount: "55.00" },
      breaks: [{ minQuantity: { value: "10" }, price: { currencyCode: "EUR", amount: "50.00" } }],
      validFrom: new Date().toISOString().slice(0, 10),
      validTo: "2099-12-31",
    },
  });
  await runs.reload();
  await runs.getByRole("tab", { name: "Pricing" }).click();
  const own = runs.getByRole("table", { name: "Account prices" }).getByRole("row").filter({ hasText: product.id });
  await own.getByRole("cell", { name: "€55.00" }).waitFor();
  await own.getByRole("cell", { name: "from 10: €50.00" }).waitFor();
  await runs.getByRole("tab", { name: "Quote" }).click();
  await runs.getByLabel("Product of line 1").fill("WIDGET");
  await runs.getByLabel("Quantity of line 1").fill("12");
  await runs.getByRole("button", { name: "Quote" }).click();
  await runs.getByRole("heading", { name: /Line 1: WIDGET × 12 at €50\.00 = €600\.00 \(ACCOUNT_PRICE\)/ }).waitFor();
  const candidates = runs.getByRole("table", { name: "Candidates of line 1" });
  await candidates.getByRole("row").filter({ hasText: "ACCOUNT_PRICE" }).getByRole("cell", { name: "Won" }).waitFor();
  const listPrice = candidates.getByRole("row").filter({ hasText: "LIST_PRICE" });
  await listPrice.getByRole("cell", { name: "€60.00" }).waitFor();
  assert.notEqual(await listPrice.locator("td").last().innerText(), "Won");
  await runs.screenshot({ path: path.join(shots, "quote-tester.png") });
  await accessible(runs, "the quote tester");
  await runs.getByLabel("Quantity of line 1").fill("a dozen");
  await runs.getByRole("button", { name: "Quote" }).click();
  await runs.getByRole("alert").getByText(/lines\[0\]\.quantity/).waitFor();
  await runs.close();

  // Billing made one posted invoice of 180.00; credit moved the reservation
  // into the balance.
  const invoiced = await invoices.listInvoices({ accountId: account.id });
  assert.deepEqual(
    invoiced.invoices.map((invoice) => invoice.total?.amount),
    ["180.00"],
  );
  const standing = await until(
    async () => (await credit.getCreditStatus({ accountId: account.id })).status,
    (status) => status.balance?.amount === "180.00" && status.reserved?.amount === "0.00",
  );
  assert.deepEqual([standing.balance?.amount, standing.reserved?.amount], ["180.00", "0.00"]);
  assert.deepEqual(pageErrors, []);
});

test("the reseller sync and a reseller's customer copied into this tenant's books", async () => {
  // A reseller tenant under the demo tenant (the distributor), its account
  // here, and the link between them.
  const platform = createBssTransport({ baseUrl: started.gatewayUrl, token: () => started.platformToken });
  const { tenant } = await bssClient(TenantService, platform).createTenant({
    tenant: { name: "Reseller Co", defaultCurrency: "EUR", parentTenantId: started.tenantId },
  });
  const resellerToken = execFileSync(
    path.join(root, "target/debug/bss-suite"),
    ["token", "--tenant", tenant.id, "--roles", "tenant_admin"],
    { encoding: "utf8" },
  ).trim();
  const here = clients();
  const { account: tenantReseller } = await here.accounts.createAccount({
    account: {
      code: "ACMETEL",
      name: "Acme Telecom",
      kind: AccountKind.RESELLER,
      separateInvoices: true,
      enableOrdering: true,
      paymentTypes: [PaymentType.ON_ACCOUNT],
    },
  });
  const sync = bssClient(ResellerSyncService, createBssTransport({ baseUrl: started.gatewayUrl, token: () => started.token }));
  await sync.createLink({ link: { resellerTenantId: tenant.id, tenantResellerAccountId: tenantReseller.id } });

  // The reseller's customer buys a paid plan: the sync copies it here.
  const reseller = createBssTransport({ baseUrl: started.gatewayUrl, token: () => resellerToken });
  const theirs = { accounts: bssClient(AccountService, reseller), credit: bssClient(CreditService, reseller) };
  await bssClient(CatalogService, reseller).createProduct({
    product: { code: "PLAN", name: "Plan", family: "", listPrice: { currencyCode: "EUR", amount: "10.00" } },
  });
  const { account: customer } = await theirs.accounts.createAccount({
    account: {
      code: "CUST1",
      name: "Customer One",
      email: "one@customer.example",
      enableOrdering: true,
      paymentTypes: [PaymentType.ON_ACCOUNT],
    },
  });
  await theirs.accounts.createAddress({
    accountId: customer.id,
    address: {
      type: AddressType.BILLING,
      lines: ["1 Main Street"],
      city: "Springfield",
      region: "IL",
      postalCode: "12345",
      countryCode: "US",
      overrideValidation: true,
    },
  });
  await theirs.credit.changeCreditTerms({ accountId: customer.id, terms: { creditLimit: { value: "1000" } }, reason: "opening" });
  await bssClient(SubscriptionService, reseller).createSubscription({
    subscription: { accountId: customer.id, product: "PLAN", quantity: { value: "1" }, paymentType: PaymentType.ON_ACCOUNT },
  });
  const copied = await until(
    async () => (await sync.listCopies({ resellerTenantId: tenant.id })).copies,
    (copies) => copies.length === 1,
  );
  assert.equal(copied.length, 1, "the sync copies the customer");

  // The sync's page: its streams, the link, nothing set aside.
  const page = await signedIn();
  await page.getByRole("link", { name: "Reseller sync" }).click();
  await page.getByRole("table", { name: "Links" }).getByRole("cell", { name: "Acme Telecom" }).waitFor();
  const streams = page.getByRole("table", { name: "Source streams" });
  await streams.getByRole("cell", { name: "billing", exact: true }).waitFor();
  await page.getByText("No event is set aside.").waitFor();
  await page.screenshot({ path: path.join(shots, "reseller-sync.png") });
  await accessible(page, "the reseller sync");

  // The copy: the reseller's ribbon, its locked fields marked.
  await page.goto(`${started.consoleUrl}/accounts/${copied[0].copyAccountId}`);
  await page.getByRole("note").getByText("Acme Telecom").waitFor();
  const details = page.getByRole("table", { name: "Account details" });
  await details.getByRole("row", { name: /Name \(locked\)/ }).getByText("Customer One").waitFor();
  await page.screenshot({ path: path.join(shots, "managed-copy.png") });
  await accessible(page, "a managed copy");
  await page.close();
  assert.deepEqual(pageErrors, []);
});

/** Presses Tab until the focused element's accessible text matches `name` (30 presses at most). */
async function tabTo(page, name) {
  for (let press = 0; press < 30; press++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const element = document.activeElement;
      // Focus on the page itself (nothing focused, or focus gone to the
      // browser): its text is every label on the page, which is no match.
      if (!element || element === document.body) return "";
      const label = element.labels?.[0]?.textContent ?? "";
      return [element.getAttribute("aria-label") ?? "", label, element.textContent ?? ""].join(" ").trim();
    });
    if (name.test(focused)) return;
  }
  assert.fail(`no focusable element matching ${name} by keyboard`);
}

test("the console is used by keyboard alone", async () => {
  const page = await newPage();
  await page.goto(started.consoleUrl);
  // The form renders once the console has read its configuration.
  await page.getByLabel("Bearer token").waitFor();
  await tabTo(page, /Bearer token/);
  await page.keyboard.type(started.token);
  assert.equal(await page.getByLabel("Bearer token").inputValue(), started.token);
  await tabTo(page, /^Sign in$/);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Accounts" }).waitFor();
  await tabTo(page, /^Text/);
  await page.keyboard.type("acme");
  await page.keyboard.press("Enter");
  const table = page.getByRole("table", { name: "Accounts found" });
  await table.getByRole("link", { name: "GLOBEX" }).waitFor({ state: "detached" });
  // The search's answer is on the page before focus moves through it.
  await table.getByRole("link", { name: "ACME", exact: true }).waitFor();
  await tabTo(page, /^ACME$/);
  await page.keyboard.press("Enter");
  await page.getByRole("table", { name: "Account details" }).waitFor();
  // The tabs: focus one, move with the arrow keys, as a tab list does.
  await tabTo(page, /^Details$/);
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("Enter");
  await page.getByRole("table", { name: "Lifecycle history" }).waitFor();
  await page.close();
  assert.deepEqual(pageErrors, []);
});

test("a platform administrator switches between tenants and works in each", async () => {
  // A second tenant with an account of its own, made by the platform
  // administrator acting in it (x-bss-tenant, as the console sends it).
  const platform = createBssTransport({ baseUrl: started.gatewayUrl, token: () => started.platformToken });
  const { tenant } = await bssClient(TenantService, platform).createTenant({
    tenant: { name: "Orbit Books", defaultCurrency: "EUR" },
  });
  const inOrbit = createBssTransport({ baseUrl: started.gatewayUrl, token: () => started.platformToken, tenant: () => tenant.id });
  await bssClient(AccountService, inOrbit).createAccount({ account: { code: "ORBIT", name: "Orbit Retail" } });
  const demo = await bssClient(TenantService, platform).getTenant({ id: started.tenantId });

  const page = await newPage();
  await page.goto(started.consoleUrl);
  await page.getByLabel("Bearer token").fill(started.platformToken);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { name: "Choose a tenant" }).waitFor();
  await accessible(page, "the tenant choice");

  const choose = async (name) => {
    await page.getByRole("combobox", { name: "Tenant" }).click();
    await page.getByRole("option", { name }).click();
    await page.getByRole("heading", { name: "Accounts" }).waitFor();
  };
  const table = page.getByRole("table", { name: "Accounts found" });
  // In Orbit Books: its account, and none of the demo tenant's.
  await choose("Orbit Books");
  await table.getByRole("link", { name: "ORBIT", exact: true }).waitFor();
  assert.equal(await table.getByRole("link", { name: "ACME", exact: true }).count(), 0);
  await page.screenshot({ path: path.join(shots, "tenant-switcher.png") });
  // Switched to the demo tenant: its accounts, and Orbit's are gone.
  await choose(demo.tenant.name);
  await table.getByRole("link", { name: "ACME", exact: true }).waitFor();
  assert.equal(await table.getByRole("link", { name: "ORBIT", exact: true }).count(), 0);
  // As the tenant's administrator: held orders are there to decide (the
  // queue has its Decision column, shown only to those who may decide).
  await page.getByRole("link", { name: "Held orders" }).click();
  await page.getByRole("table", { name: "Orders waiting for approval" }).getByRole("columnheader", { name: "Decision" }).waitFor();
  await page.close();
  assert.deepEqual(pageErrors, []);
});

test("an administrator signs in through the identity provider (authorization code with PKCE) and a cancelled sign-in says so", async () => {
  const { accounts } = clients();
  await accounts.createAccount({ account: { code: "SSO-1", name: "Signed On Ltd" } });

  const page = await newPage();
  await page.goto(started.consoleUrl);
  await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
  // The suite's SANDBOX provider (another origin) asks who signs in; the
  // demo tenant is offered first.
  await page.getByRole("heading", { name: "Sign in", exact: true }).waitFor();
  assert.match(page.url(), /\/authorize\?.*code_challenge_method=S256/);
  assert.notEqual(new URL(page.url()).origin, new URL(started.consoleUrl).origin);
  assert.equal(await page.getByLabel(/^Tenant/).inputValue(), started.tenantId);
  await page.getByLabel("User", { exact: true }).fill("sandbox:carol");
  await page.getByLabel("Role").selectOption("credit_manager");
  await page.screenshot({ path: path.join(shots, "sandbox-sign-in.png") });
  await page.getByRole("button", { name: "Sign in", exact: true }).click();

  // Back in the console as that user, with the provider's access token,
  // which the gateway and the services behind it accept.
  await page.getByRole("heading", { name: "Accounts" }).waitFor();
  await page.getByText("Signed in as sandbox:carol (credit_manager)").waitFor();
  assert.equal(new URL(page.url()).pathname, "/accounts", "the code and state leave the address bar");
  const table = page.getByRole("table", { name: "Accounts found" });
  await table.getByRole("link", { name: "SSO-1", exact: true }).click();
  await page.getByRole("table", { name: "Account details" }).getByText("Signed On Ltd").waitFor();

  // Only the access token is kept, in this tab's session storage.
  const kept = await page.evaluate(() => ({
    local: Object.keys(localStorage),
    session: Object.fromEntries(Object.keys(sessionStorage).map((key) => [key, sessionStorage.getItem(key)])),
  }));
  assert.deepEqual(kept.local, []);
  const tokens = Object.values(kept.session).filter((value) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value ?? ""));
  assert.equal(tokens.length, 1, `one token kept: ${Object.keys(kept.session)}`);
  const claims = JSON.parse(Buffer.from(tokens[0].split(".")[1], "base64url").toString());
  assert.equal(claims.iss, started.sandboxIdp);
  assert.deepEqual([claims.tenant, claims.roles], [started.tenantId, ["credit_manager"]]);
  await page.getByRole("button", { name: "Sign out" }).click();

  // A deep link opened signed out is where single sign-on comes back to.
  await page.goto(`${started.consoleUrl}/held-orders`);
  await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
  await page.getByLabel("Role").selectOption("tenant_admin");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("table", { name: "Orders waiting for approval" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/held-orders");
  await page.getByRole("button", { name: "Sign out" }).click();

  // Declined at the provider: back on the sign-in page, with the reason,
  // and the spent callback address is gone (a reload signs in afresh).
  await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("alert").filter({ hasText: "Sign-in was cancelled at the identity provider." }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/");
  await accessible(page, "the sign-in page after a cancelled sign-in");
  await page.close();
  assert.deepEqual(pageErrors, []);
});
