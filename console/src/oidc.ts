// The OIDC authorization-code login (with PKCE), when the console is
// configured with an identity provider. oidc-client-ts runs the protocol;
// the login's state (PKCE verifier, nonce) waits in this tab's session
// storage, and the library keeps no token: the access token it returns is
// handed to the session, which keeps it in session storage like a pasted
// one. The ID token is checked by the library (issuer, audience, nonce)
// and then dropped.

import { InMemoryWebStorage, UserManager, WebStorageStateStore } from "oidc-client-ts";
import type { ConsoleConfig } from "./config";

type Oidc = NonNullable<ConsoleConfig["oidc"]>;

/** Where the identity provider sends the browser back. */
export const CALLBACK_PATH = "/callback";

let manager: UserManager | null = null;

function userManager(oidc: Oidc): UserManager {
  manager ??= new UserManager({
    authority: oidc.authority,
    client_id: oidc.clientId,
    scope: oidc.scope,
    redirect_uri: `${window.location.origin}${CALLBACK_PATH}`,
    response_type: "code",
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    loadUserInfo: false,
    monitorSession: false,
    automaticSilentRenew: false,
  });
  return manager;
}

/** A path of this console to come back to (never another site's address). */
function ownPath(path: unknown): string {
  return typeof path === "string" && path.startsWith("/") && !path.startsWith("//") && !path.startsWith(CALLBACK_PATH)
    ? path
    : "/accounts";
}

/** Sends the browser to the identity provider's sign-in page; back here, at `returnTo` (a path of the console). */
export function startSignIn(oidc: Oidc, returnTo: string): Promise<void> {
  return userManager(oidc).signinRedirect({ state: ownPath(returnTo) });
}

let finishing: Promise<string> | null = null;
let returnPath = "/accounts";

/** Where a finished sign-in goes: the page the caller started from. */
export function afterSignIn(): string {
  return returnPath;
}

/**
 * The access token of the login the identity provider just sent back here
 * (its code exchanged once per page load: a code is single-use).
 */
export function finishSignIn(oidc: Oidc): Promise<string> {
  finishing ??= userManager(oidc)
    .signinRedirectCallback()
    .then((user) => {
      if (!user.access_token) {
        throw new Error("the identity provider returned no access token");
      }
      returnPath = ownPath(user.state);
      return user.access_token;
    });
  return finishing;
}

/** What went wrong, in words for the sign-in page. */
export function signInProblem(error: unknown): string {
  const { error: code, error_description: description } = (error ?? {}) as { error?: string; error_description?: string };
  if (code === "access_denied") {
    return "Sign-in was cancelled at the identity provider.";
  }
  if (code) {
    return `The identity provider refused the sign-in (${code}${description ? `: ${description}` : ""}).`;
  }
  return `The sign-in could not finish: ${error instanceof Error ? error.message : String(error)}`;
}
