import { Refusal } from "./Refusal";
import { useState } from "react";
import { Badge, Button, Checkbox, Group, Progress, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useNavigate, useParams } from "react-router";
import { BillingRunStatus } from "@bss/client/gen/bss/billing/v1/invoices_pb";
import { newRequestId, useApi } from "../api";
import { useSession } from "../session";
import { useDateTime } from "../tenant";
import { Descriptions } from "./Descriptions";

/** Roles that may start a billing run (billing's writers). */
const RUNNERS = ["tenant_admin", "billing_clerk"];

/** Start a billing run: an invoice date, whether to post. */
export function BillingRuns() {
  const api = useApi();
  const { may } = useSession();
  const navigate = useNavigate();
  const [date, setDate] = useState("");
  const [post, setPost] = useState(true);
  // One request id for this form until a run starts: a retried submission
  // starts one run.
  const [requestId, setRequestId] = useState(newRequestId);
  const start = useMutation({
    mutationFn: () => api.invoices.startBillingRun({ invoiceDate: date.trim(), post, requestId }),
    onSuccess: (started) => {
      setRequestId(newRequestId());
      if (started.run) navigate(`/billing-runs/${started.run.id}`);
    },
  });
  return (
    <>
      <Title order={2} mb="md">
        Billing runs
      </Title>
      {!may(...RUNNERS) ? (
        <Text>Starting a billing run needs the tenant admin or billing clerk role.</Text>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            start.mutate();
          }}
        >
          <Stack maw={420}>
            <TextInput
              label="Invoice date"
              description="YYYY-MM-DD; empty: today (UTC)"
              placeholder="YYYY-MM-DD"
              value={date}
              onChange={(event) => setDate(event.currentTarget.value)}
            />
            <Checkbox label="Post the invoices" checked={post} onChange={(event) => setPost(event.currentTarget.checked)} />
            <Refusal error={start.error} />
            <Button type="submit" loading={start.isPending}>
              Start billing run
            </Button>
          </Stack>
        </form>
      )}
    </>
  );
}

/** One billing run, followed live until it completes or fails. */
export function BillingRun() {
  const dateTime = useDateTime();
  const { id = "" } = useParams();
  const api = useApi();
  const run = useQuery({
    queryKey: ["billing-run", id],
    queryFn: () => api.invoices.getBillingRun({ id }),
    refetchInterval: (query) => (query.state.data?.run?.status === BillingRunStatus.RUNNING ? 500 : false),
  });
  if (run.error) {
    return <Refusal error={run.error} />;
  }
  const found = run.data?.run;
  if (!found) {
    return <Text>Loading…</Text>;
  }
  const total = Number(found.accountsTotal);
  const done = Number(found.accountsDone);
  const percent = total === 0 ? 100 : Math.round((done / total) * 100);
  const [label, color] =
    found.status === BillingRunStatus.COMPLETED
      ? ["Completed", "green"]
      : found.status === BillingRunStatus.FAILED
        ? ["Failed", "red"]
        : ["Running", "blue"];
  return (
    <>
      <Group mb="md">
        <Title order={2}>Billing run of {found.invoiceDate}</Title>
        <Badge color={color}>{label}</Badge>
      </Group>
      <Progress value={percent} aria-label="Accounts invoiced" mb="md" maw={720} />
      <Descriptions
        label="Billing run"
        rows={[
          ["Accounts invoiced", `${done} of ${total}`],
          ["Invoices made", String(found.invoicesCreated)],
          ["Posted", found.post ? "Yes" : "No"],
          ["Started", dateTime(found.createTime)],
          ["Finished", dateTime(found.completeTime)],
          ["Error", found.error],
        ]}
      />
    </>
  );
}
