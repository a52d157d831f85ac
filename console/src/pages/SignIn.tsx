import { useState } from "react";
import { Alert, Button, Card, Stack, Text, Textarea, Title } from "@mantine/core";
import { claimsOf, useSession } from "../session";
import type { ConsoleConfig } from "../config";

/** Sign in: a bearer token pasted (the suite's development token in `make run`), or the identity provider when one is configured. */
export function SignIn({ config }: { config: ConsoleConfig }) {
  const { signIn } = useSession();
  const [token, setToken] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
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
            {config.oidc && (
              <Text size="sm">Single sign-on is configured ({config.oidc.authority}); you may also paste a token.</Text>
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
            <Button type="submit">Sign in</Button>
          </Stack>
        </form>
      </Card>
    </Stack>
  );
}
