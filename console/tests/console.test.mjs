// The console in a real browser (Debian's Chromium, headless, driven by
// playwright-core) against the suite as `make run` starts it: sign in with
// the development token, search accounts, open one and read its tabs.
// Screenshots of the pages go to target/console-screenshots/ (the README
// shows them).
//
// Needs: `make console` (console/dist), the suite's binary
// (target/debug/bss-suite) and Chromium (`deploy/local/deps.sh`).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";
import { createBssTransport, bssClient } from "@bss/client";
import { AccountService } from "@bss/client/gen/bss/accounts/v1/accounts_pb";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const shots = path.join(root, "target/console-screenshots");
const basePort = Number(process.env.BSS_CONSOLE_TEST_PORT ?? 51050);
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

let suite;
let browser;
let started;

/** Starts `bss-suite run` with a private Postgres of its own; resolves with what it prints. */
function startSuite() {
  const dataDir = path.join(root, "target/console-test-postgres");
  rmSync(dataDir, { recursive: true, force: true });
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
      const token = output.match(/Tenant admin token for the demo tenant \(12 h\):\n\s+(\S+)/);
      if (console && token && output.includes("Ctrl-C stops everything.")) {
        clearTimeout(timer);
        resolve({ consoleUrl: console[1], token: token[1], gatewayUrl: `http://127.0.0.1:${basePort}` });
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
    const stopped = new Promise((resolve) => suite.on("exit", resolve));
    suite.kill("SIGTERM");
    await stopped;
  }
});

test("an administrator signs in, finds an account and reads it", async () => {
  // Two accounts made through the same generated client, from Node.
  const transport = createBssTransport({ baseUrl: started.gatewayUrl, token: () => started.token });
  const accounts = bssClient(AccountService, transport);
  const acme = await accounts.createAccount({ account: { code: "ACME", name: "Acme Trading", email: "books@acme.example" } });
  await accounts.createAccount({ account: { code: "GLOBEX", name: "Globex", email: "ap@globex.example" } });
  await accounts.suspendAccount({ id: acme.account.id, reason: "cheque bounced" });

  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  await page.goto(started.consoleUrl);

  // A token that is not one is refused on the page; the real one signs in.
  await page.getByLabel("Bearer token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not a token" }).waitFor();
  await page.screenshot({ path: path.join(shots, "sign-in.png") });
  await page.getByLabel("Bearer token").fill(started.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Accounts" }).waitFor();

  // Every account at first, then the one a search finds.
  const table = page.getByRole("table", { name: "Accounts found" });
  await table.getByRole("link", { name: "GLOBEX" }).waitFor();
  await page.getByLabel("Text").fill("acme");
  await page.getByRole("button", { name: "Find" }).click();
  await table.getByRole("link", { name: "GLOBEX" }).waitFor({ state: "detached" });
  const rows = await table.locator("tbody tr").allInnerTexts();
  assert.equal(rows.length, 1, rows.join("\n"));
  const cells = rows[0].split(/\s*\t\s*|\n/).filter(Boolean);
  assert.deepEqual(cells, ["ACME", "Acme Trading", "SUSPENDED", "books@acme.example", "EUR"]);
  await page.screenshot({ path: path.join(shots, "accounts.png") });

  // The account: its details, and its history read from accounts.
  await table.getByRole("link", { name: "ACME" }).click();
  await page.waitForURL(`**/accounts/${acme.account.id}`);
  await page.getByRole("cell", { name: "books@acme.example" }).waitFor();
  await page.screenshot({ path: path.join(shots, "account-details.png") });
  await page.getByRole("tab", { name: "History" }).click();
  const history = page.getByRole("table", { name: "Lifecycle history" });
  await history.getByRole("cell", { name: "SUSPENDED" }).waitFor();
  await history.getByRole("cell", { name: "cheque bounced" }).waitFor();

  // A deep link survives a reload (the console service serves the app there).
  await page.reload();
  await page.getByRole("cell", { name: "books@acme.example" }).waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});
