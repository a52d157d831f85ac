import { Stack, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "../api";
import { useTimeZone } from "../tenant";
import { AgingChart } from "./LazyCharts";
import { Refusal } from "./Refusal";

/** Billing's aging of receivables, to today in the tenant's time zone: of `accountId`, or of the whole tenant. */
export function useAging(accountId?: string) {
  const api = useApi();
  const timeZone = useTimeZone();
  return useQuery({
    queryKey: ["aging", accountId ?? "tenant", timeZone],
    queryFn: () => api.payments.getReceivablesAging({ accountId, timeZone }),
  });
}

/** The tenant's receivables: what every account's posted invoices still owe, by how long past due, per currency. */
export function Receivables() {
  const aging = useAging();
  return (
    <Stack>
      <Title order={2}>Receivables</Title>
      <Refusal error={aging.error} />
      {aging.data && <AgingChart aging={aging.data.aging} asOf={aging.data.asOfDate} label="Receivables" />}
    </Stack>
  );
}
