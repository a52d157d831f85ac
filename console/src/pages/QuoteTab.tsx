import { useState } from "react";
import { Button, Group, Stack, Table, TextInput, Title } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { Refusal } from "./Refusal";
import { PriceRule } from "@bss/client/gen/bss/pricing/v1/quotes_pb";
import { useApi } from "../api";
import { money } from "../format";

type Line = { product: string; quantity: string };

/** The quote tester: price lines for the account and see, for each line, every candidate price and why the winner won. */
export function QuoteTab({ accountId }: { accountId: string }) {
  const api = useApi();
  const [lines, setLines] = useState<Line[]>([{ product: "", quantity: "1" }]);
  const quote = useMutation({
    mutationFn: () =>
      api.quotes.quote({
        accountId,
        explain: true,
        lines: lines.map((line) => ({ product: line.product.trim(), quantity: { value: line.quantity.trim() } })),
      }),
  });
  const edit = (index: number, change: Partial<Line>) =>
    setLines(lines.map((line, at) => (at === index ? { ...line, ...change } : line)));
  return (
    <Stack>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          quote.mutate();
        }}
      >
        <Stack gap="xs">
          {lines.map((line, index) => (
            <Group key={index} align="end">
              <TextInput
                label={`Product of line ${index + 1}`}
                value={line.product}
                onChange={(event) => edit(index, { product: event.currentTarget.value })}
              />
              <TextInput
                label={`Quantity of line ${index + 1}`}
                value={line.quantity}
                onChange={(event) => edit(index, { quantity: event.currentTarget.value })}
                w={140}
              />
            </Group>
          ))}
          <Group>
            <Button variant="default" onClick={() => setLines([...lines, { product: "", quantity: "1" }])}>
              Add a line
            </Button>
            <Button type="submit" loading={quote.isPending}>
              Quote
            </Button>
          </Group>
        </Stack>
      </form>
      <Refusal error={quote.error} />
      {quote.data?.lines.map((line) => (
        <Stack key={line.lineNumber} gap={4}>
          <Title order={5}>
            Line {line.lineNumber}: {line.productCode} × {line.quantity?.value} at {money(line.unitPrice)} ={" "}
            {money(line.total)} ({PriceRule[line.rule]})
          </Title>
          <Table aria-label={`Candidates of line ${line.lineNumber}`}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Rule</Table.Th>
                <Table.Th>Price</Table.Th>
                <Table.Th>Discount</Table.Th>
                <Table.Th>Break</Table.Th>
                <Table.Th>Forced</Table.Th>
                <Table.Th>Outcome</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {line.candidates.map((candidate, index) => (
                <Table.Tr key={index} fw={candidate.won ? 700 : undefined}>
                  <Table.Td>{PriceRule[candidate.rule]}</Table.Td>
                  <Table.Td>{money(candidate.price)}</Table.Td>
                  <Table.Td>{candidate.discountPercent?.value ?? ""} %</Table.Td>
                  <Table.Td>{candidate.quantityBreak ? "Yes" : ""}</Table.Td>
                  <Table.Td>{candidate.forced ? "Yes" : ""}</Table.Td>
                  <Table.Td>{candidate.won ? "Won" : candidate.reason}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      ))}
    </Stack>
  );
}
