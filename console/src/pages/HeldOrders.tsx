import { Refusal } from "./Refusal";
import { useState } from "react";
import { Button, Group, Modal, Stack, Table, Text, Textarea, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { HeldOrderState, type HeldOrder } from "@bss/client/gen/bss/credit/v1/credit_pb";
import { newRequestId, useApi } from "../api";
import { useSession } from "../session";
import { dateTime, money } from "../format";

/** Roles that may approve or reject a held order (credit's DECIDERS; a tenant may narrow it, and credit says so). */
const DECIDERS = ["tenant_admin", "credit_manager", "account_manager"];

/** A decision being made: its request id is made when the dialog opens, so a retried submission decides once. */
type Decision = { order: HeldOrder; approve: boolean; requestId: string };

/** The orders credit holds for approval, oldest first; approve or reject each with a note. */
export function HeldOrders() {
  const api = useApi();
  const { may } = useSession();
  const queries = useQueryClient();
  const [deciding, setDeciding] = useState<Decision | null>(null);
  const [note, setNote] = useState("");
  const held = useQuery({
    queryKey: ["held-orders"],
    queryFn: () => api.credit.listHeldOrders({ state: HeldOrderState.PENDING, pageSize: 100 }),
  });
  const decide = useMutation({
    mutationFn: async ({ order, approve, requestId }: Decision) => {
      const request = { heldOrderId: order.id, note: note.trim(), requestId };
      return approve ? api.credit.approveHeldOrder(request) : api.credit.rejectHeldOrder(request);
    },
    onSuccess: async () => {
      setDeciding(null);
      setNote("");
      await queries.invalidateQueries();
    },
  });
  const open = (order: HeldOrder, approve: boolean) => {
    decide.reset();
    setNote("");
    setDeciding({ order, approve, requestId: newRequestId() });
  };
  return (
    <>
      <Title order={2} mb="md">
        Held orders
      </Title>
      <Refusal error={held.error} mb="md" />
      <Table striped aria-label="Orders waiting for approval">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Held</Table.Th>
            <Table.Th>Account</Table.Th>
            <Table.Th>Order</Table.Th>
            <Table.Th>Amount</Table.Th>
            <Table.Th>Why</Table.Th>
            <Table.Th>Expires</Table.Th>
            {may(...DECIDERS) && <Table.Th>Decision</Table.Th>}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {held.data?.heldOrders.map((order) => (
            <Table.Tr key={order.id}>
              <Table.Td>{dateTime(order.createTime)}</Table.Td>
              <Table.Td>
                <Link to={`/accounts/${order.accountId}`}>{order.accountId.slice(0, 8)}</Link>
              </Table.Td>
              <Table.Td>{order.orderReference}</Table.Td>
              <Table.Td>{money(order.amount)}</Table.Td>
              <Table.Td>{order.reasons.map((reason) => reason.code).join(", ")}</Table.Td>
              <Table.Td>{dateTime(order.expireTime)}</Table.Td>
              {may(...DECIDERS) && (
                <Table.Td>
                  <Group gap="xs">
                    <Button size="xs" onClick={() => open(order, true)}>
                      Approve {order.orderReference}
                    </Button>
                    <Button size="xs" color="red" variant="light" onClick={() => open(order, false)}>
                      Reject {order.orderReference}
                    </Button>
                  </Group>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {held.data && held.data.heldOrders.length === 0 && <Text mt="md">No order is waiting for approval.</Text>}
      <Modal
        opened={deciding !== null}
        onClose={() => setDeciding(null)}
        title={deciding ? `${deciding.approve ? "Approve" : "Reject"} order ${deciding.order.orderReference}` : ""}
      >
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (deciding) decide.mutate(deciding);
          }}
        >
          <Stack>
            <Text size="sm">
              {deciding?.approve
                ? "Credit reserves the order's amount on each payer once approved."
                : "The order is rejected and nothing is reserved."}
            </Text>
            <Textarea
              label={deciding?.approve ? "How is it paid? (note)" : "Why? (note)"}
              required
              value={note}
              onChange={(event) => setNote(event.currentTarget.value)}
            />
            <Refusal error={decide.error} />
            <Button type="submit" loading={decide.isPending} disabled={note.trim() === ""}>
              {deciding?.approve ? "Approve" : "Reject"}
            </Button>
          </Stack>
        </form>
      </Modal>
    </>
  );
}
