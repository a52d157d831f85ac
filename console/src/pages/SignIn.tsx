import { useEffect, useState } from "react";
import { Alert, Button, Card, Divider, Stack, Text, Textarea, Title } from "@mantine/core";
import { claimsOf, useSession } from "../session";
import type { ConsoleConfig } from "../config";
import { CALLBACK_PATH, finishSignIn, signInProblem, startSignIn } from "../oidc";

/** Back from the identity provider: the code exchanged, then signed in (or the reason not). */
export function SignInCallback({ config }: { config: ConsoleConfig }) {
  const { signIn } = useSession();
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (!config.oidc) {
      setProblem("Single sign-on is not configured for this console.");
      return;
    }
    finishSignIn(config.oidc).then(
      // The /callback route then goes to the page the sign-in started from.
      (token) => signIn(token),
      (error: unknown) => {
        // The code or error is spent: a reload shows the sign-in page, not a stale callback.
        window.history.replaceState(null, "", "/");
        setProblem(signInProblem(error));
      },
    );
  }, [config, signIn]);
  if (!problem) {
    return (
      <Stack align="center" mt="xl">
        <Text role="status">Signing in…</Text>
      </Stack>
    );
  }
  return <SignIn config={config} initialProblem={problem} />;
}

/** Whether the page is the identity provider's way back. */
export function isSignInCallback(): boolean {
  return window.location.pathname === CALLBACK_PATH;
}

/** Sign in: a bearer token pasted (the suite's development token in `make run`), or the identity provider when one is configured. */
export function SignIn({ config, initialProblem = null }: { config: ConsoleConfig; initialProblem?: string | null }) {
  const { signIn } = useSession();
  const [token, setToken] = useState("");
  const [problem, setProblem] = useState<string | null>(initialProblem);
  const [redirecting, setRedirecting] = useState(false);
  const oidc = config.oidc;
  const singleSignOn = () => {
    if (!oidc) {
      return;
    }
    setRedirecting(true);
    startSignIn(oidc, `${window.location.pathname}${window.location.search}`).catch((error: unknown) => {
      setRedirecting(false);
      setProblem(`The identity provider cannot be reached (${oidc.authority}): ${error instanceof Error ? error.message : String(error)}`);
    });
  };
  const submit = () => {
    const claims = claimsOf(token.trim());
    if (!claims) {
      setProblem("That is not a token the suite issues.");
      return;
    }
    if (claims.exp * 1000 < Date.now()) {
      setProblem("That token has expired.");
      return;
    }
    signIn(token.trim());
  };
  return (
    <Stack align="center" mt="xl">
      <Card withBorder w={560} padding="lg">
        <form
          onSubmit={(event) => {
            event.preventDefault();
            submit();
          }}
        >
          <Stack>
            <Title order={2}>Sign in to the BSS console</Title>
            {oidc && (
              <>
                <Button type="button" variant="filled" loading={redirecting} onClick={singleSignOn}>
                  Sign in with single sign-on
                </Button>
                <Text size="sm">At {oidc.authority}. Or paste a token:</Text>
                <Divider />
              </>
            )}
            <Textarea
              label="Bearer token"
              description="The suite prints a tenant admin token when `make run` starts."
              autosize
              minRows={3}
              value={token}
              onChange={(event) => setToken(event.currentTarget.value)}
              spellCheck={false}
              autoComplete="off"
              autoCorrect="off"
              autoCapitalize="off"
            />
            {problem && (
              <Alert color="red" role="alert">
                {problem}
              </Alert>
            )}
            <Button type="submit" variant={oidc ? "default" : "filled"}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Card>
    </Stack>
  );
}
