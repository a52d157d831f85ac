import { Stack, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "../api";
import { useTimeZone } from "../tenant";
import { AgingChart } from "./LazyCharts";
import { Refusal } from "./Refusal";

/** The tenant's receivables: what every account's posted invoices still owe, by how long past due, per currency. */
export function Receivables() {
  const api = useApi();
  const timeZone = useTimeZone();
  const aging = useQuery({
    queryKey: ["aging", "tenant", timeZone],
    queryFn: () => api.payments.getReceivablesAging({ timeZone }),
  });
  return (
    <Stack>
      <Title order={2}>Receivables</Title>
      <Refusal error={aging.error} />
      {aging.data && <AgingChart aging={aging.data.aging} asOf={aging.data.asOfDate} label="Receivables" />}
    </Stack>
  );
}
