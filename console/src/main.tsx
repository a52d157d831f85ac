import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import {
  AppShell,
  Button,
  createTheme,
  Group,
  MantineProvider,
  Stack,
  Text,
  Title,
  type CSSVariablesResolver,
} from "@mantine/core";
import "@mantine/core/styles.css";
import "@mantine/charts/styles.css";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { BrowserRouter, Link, Navigate, Route, Routes } from "react-router";
import { Code, ConnectError } from "@bss/client";
import { loadConfig, type ConsoleConfig } from "./config";
import { SessionProvider, useSession } from "./session";
import { ApiProvider } from "./api";
import { afterSignIn } from "./oidc";
import { isSignInCallback, SignIn, SignInCallback } from "./pages/SignIn";
import { Accounts } from "./pages/Accounts";
import { Account } from "./pages/Account";
import { HeldOrders } from "./pages/HeldOrders";
import { BillingRun, BillingRuns } from "./pages/BillingRuns";
import { ResellerSync } from "./pages/ResellerSync";
import { Receivables } from "./pages/Receivables";
import { ChooseTenant, TenantSwitcher } from "./pages/TenantSwitcher";
import { TenantTimeZone, useTimeZone } from "./tenant";

// Reads are tried again only when the suite could not answer; a refusal
// (bad input, not found, not allowed, not signed in) is shown at once.
// Filled colours one shade darker than Mantine's default, and black labels
// on light fills (autoContrast), so buttons and badges read at WCAG AA
// contrast (the browser test runs axe on every main page).
const theme = createTheme({ primaryShade: 8, autoContrast: true, luminanceThreshold: 0.25 });
// "Dimmed" text (descriptions, empty lists) reads at AA contrast too.
const readable: CSSVariablesResolver = () => ({
  variables: {},
  light: { "--mantine-color-dimmed": "var(--mantine-color-gray-7)" },
  dark: {},
});

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (failures, error) =>
        failures < 2 && [Code.Unavailable, Code.DeadlineExceeded, Code.Aborted].includes(ConnectError.from(error).code),
      refetchOnWindowFocus: false,
    },
  },
});

function Shell({ config }: { config: ConsoleConfig }) {
  const { token, claims, signOut, switches, actingTenant } = useSession();
  if (!token || !claims) {
    return isSignInCallback() ? <SignInCallback config={config} /> : <SignIn config={config} />;
  }
  return (
    <ApiProvider gatewayUrl={config.gatewayUrl}>
      <TenantTimeZone>
        <AppShell header={{ height: 56 }} padding="md">
          <AppShell.Header>
            <Group h="100%" px="md" justify="space-between" wrap="nowrap">
              <Group component="nav" aria-label="Main">
                <Title order={3}>BSS console</Title>
                <Link to="/accounts">Accounts</Link>
                <Link to="/held-orders">Held orders</Link>
                <Link to="/billing-runs">Billing runs</Link>
                <Link to="/receivables">Receivables</Link>
                <Link to="/reseller-sync">Reseller sync</Link>
              </Group>
              <Group wrap="nowrap">
                {switches && <TenantSwitcher />}
                <Stack gap={0}>
                  <Text size="xs">
                    Signed in as {claims.sub} ({claims.roles.join(", ")})
                  </Text>
                  <Text size="xs">
                    <ZoneNote />
                  </Text>
                </Stack>
                <Button variant="default" size="xs" onClick={signOut}>
                  Sign out
                </Button>
              </Group>
            </Group>
          </AppShell.Header>
          <AppShell.Main>
            {switches && !actingTenant ? (
              <ChooseTenant />
            ) : (
              <Routes key={actingTenant ?? claims.tenant}>
                <Route path="/" element={<Navigate to="/accounts" replace />} />
                <Route path="/callback" element={<Navigate to={afterSignIn()} replace />} />
                <Route path="/accounts" element={<Accounts />} />
                <Route path="/accounts/:id" element={<Account />} />
                <Route path="/held-orders" element={<HeldOrders />} />
                <Route path="/billing-runs" element={<BillingRuns />} />
                <Route path="/billing-runs/:id" element={<BillingRun />} />
                <Route path="/receivables" element={<Receivables />} />
                <Route path="/reseller-sync" element={<ResellerSync />} />
                <Route path="*" element={<Text>No such page.</Text>} />
              </Routes>
            )}
          </AppShell.Main>
        </AppShell>
      </TenantTimeZone>
    </ApiProvider>
  );
}

/** The time zone the console shows dates and times in. */
function ZoneNote() {
  return <>Times in {useTimeZone()}</>;
}

async function start() {
  const root = createRoot(document.getElementById("root")!);
  try {
    const config = await loadConfig();
    root.render(
      <StrictMode>
        <MantineProvider theme={theme} cssVariablesResolver={readable}>
          <QueryClientProvider client={queries}>
            <SessionProvider>
              <BrowserRouter>
                <Shell config={config} />
              </BrowserRouter>
            </SessionProvider>
          </QueryClientProvider>
        </MantineProvider>
      </StrictMode>,
    );
  } catch (error) {
    root.render(<p role="alert">The console cannot start: {String(error)}</p>);
  }
}

void start();
