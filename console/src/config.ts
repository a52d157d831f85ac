// What the console service tells the page at start (GET /config.json).

export interface ConsoleConfig {
  /** The gateway as this browser reaches it. */
  gatewayUrl: string;
  /** The OIDC login, when the suite is configured with one. */
  oidc: { authority: string; clientId: string; scope: string } | null;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`the console's configuration is unavailable (${response.status})`);
  }
  return (await response.json()) as ConsoleConfig;
}
