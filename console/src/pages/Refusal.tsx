import { Alert, Text } from "@mantine/core";
import { refusal } from "@bss/client";

/** What the suite said when it refused a call: its message, the rule that refused it, and each bad field; nothing when there is no error. */
export function Refusal({ error, mb }: { error: unknown; mb?: string }) {
  if (!error) {
    return null;
  }
  const refused = refusal(error);
  return (
    <Alert color="red" role="alert" mb={mb} title={refused.reason}>
      {refused.message}
      {refused.fields.map((field) => (
        <Text key={field.field} size="sm">
          {field.field}: {field.description}
        </Text>
      ))}
    </Alert>
  );
}
