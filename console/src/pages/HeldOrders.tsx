import { Refusal } from "./Refusal";
import { useState } from "react";
import { Button, Group, Modal, Stack, Text, Textarea, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { HeldOrderState, type HeldOrder } from "@bss/client/gen/bss/credit/v1/credit_pb";
import { ListTable } from "./ListTable";
import { newRequestId, useApi } from "../api";
import { useSession } from "../session";
import { money } from "../format";
import { useDateTime } from "../tenant";

/** Roles that may approve or reject a held order (credit's DECIDERS; a tenant may narrow it, and credit says so). */
const DECIDERS = ["tenant_admin", "credit_manager", "account_manager"];

/** A decision being made: its request id is made when the dialog opens, so a retried submission decides once. */
type Decision = { order: HeldOrder; approve: boolean; requestId: string };

/** The orders credit holds for approval, oldest first; approve or reject each with a note. */
export function HeldOrders() {
  const dateTime = useDateTime();
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
      <ListTable
        label="Orders waiting for approval"
        columns={["Held", "Account", "Order", "Amount", "Why", "Expires", ...(may(...DECIDERS) ? ["Decision"] : [])]}
        rows={held.data?.heldOrders}
        error={held.error}
        empty="No order is waiting for approval."
        cells={(order) => [
          dateTime(order.createTime),
          <Link to={`/accounts/${order.accountId}`}>{order.accountId.slice(0, 8)}</Link>,
          order.orderReference,
          money(order.amount),
          order.reasons.map((reason) => reason.code).join(", "),
          dateTime(order.expireTime),
          ...(may(...DECIDERS)
            ? [
                <Group gap="xs">
                  <Button size="xs" onClick={() => open(order, true)}>
                    Approve {order.orderReference}
                  </Button>
                  <Button size="xs" color="red" variant="light" onClick={() => open(order, false)}>
                    Reject {order.orderReference}
                  </Button>
                </Group>,
              ]
            : []),
        ]}
      />
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
