// Who is signed in: the bearer token lives in this tab's session storage
// only (never local storage, never a cookie), and the claims the console
// reads from it decide what it shows. The suite checks every call anyway.

import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";

const KEY = "bss.console.token";
const TENANT_KEY = "bss.console.tenant";

/** The claims of a suite token the console uses. */
export interface Claims {
  sub: string;
  tenant?: string;
  roles: string[];
  exp: number;
}

/** The claims of `token`; `null` when it is not a token this console can read. */
export function claimsOf(token: string): Claims | null {
  const payload = token.split(".")[1];
  if (!payload) {
    return null;
  }
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as Partial<Claims>;
    if (typeof claims.sub !== "string" || typeof claims.exp !== "number") {
      return null;
    }
    return { sub: claims.sub, tenant: claims.tenant, roles: claims.roles ?? [], exp: claims.exp };
  } catch {
    return null;
  }
}

interface Session {
  token: string | null;
  claims: Claims | null;
  signIn: (token: string) => void;
  signOut: () => void;
  /** Whether the caller holds one of `roles`. */
  may: (...roles: string[]) => boolean;
  /** Whether the caller is a platform administrator, who works in the tenant it switches to. */
  switches: boolean;
  /** The tenant a platform administrator switched to (sent as `x-bss-tenant`); `null`: none yet. */
  actingTenant: string | null;
  switchTenant: (tenantId: string) => void;
}

const SessionContext = createContext<Session | null>(null);

/** Whether `claims` are still valid now. */
function current(claims: Claims | null): claims is Claims {
  return claims !== null && claims.exp * 1000 > Date.now();
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queries = useQueryClient();
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(KEY));
  const [acting, setActing] = useState<string | null>(() => sessionStorage.getItem(TENANT_KEY));
  const session = useMemo<Session>(() => {
    const read = token ? claimsOf(token) : null;
    const claims = current(read) ? read : null;
    // A platform administrator's token names no tenant: it works in the one
    // it switches to, with that tenant's administrator's rights.
    const switches = Boolean(claims?.roles.includes("platform_admin") && !claims?.tenant);
    const actingTenant = switches ? acting : null;
    const roles = actingTenant ? [...(claims?.roles ?? []), "tenant_admin"] : (claims?.roles ?? []);
    // Another caller's (or tenant's) answers are never shown to the next one.
    const change = (next: string | null) => {
      queries.clear();
      sessionStorage.removeItem(TENANT_KEY);
      setActing(null);
      if (next) {
        sessionStorage.setItem(KEY, next);
      } else {
        sessionStorage.removeItem(KEY);
      }
      setToken(next);
    };
    return {
      token: claims ? token : null,
      claims,
      signIn: (next) => change(next),
      signOut: () => change(null),
      may: (...wanted) => wanted.some((role) => roles.includes(role)),
      switches,
      actingTenant,
      switchTenant: (tenantId) => {
        // The list of tenants is the platform's, the same in every tenant.
        queries.removeQueries({ predicate: (query) => query.queryKey[0] !== "platform-tenants" });
        sessionStorage.setItem(TENANT_KEY, tenantId);
        setActing(tenantId);
      },
    };
  }, [token, acting, queries]);
  // A token that expires while the page is open signs the caller out.
  useEffect(() => {
    const claims = session.claims;
    if (!claims) {
      return;
    }
    const timer = setTimeout(session.signOut, Math.max(0, claims.exp * 1000 - Date.now()));
    return () => clearTimeout(timer);
  }, [session]);
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) {
    throw new Error("useSession outside SessionProvider");
  }
  return session;
}
