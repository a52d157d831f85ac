import { Badge, Group, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { ReservationState } from "@bss/client/gen/bss/credit/v1/credit_pb";
import { Refusal } from "./Refusal";
import { ListTable } from "./ListTable";
import { useApi } from "../api";
import { HISTORY_DAYS, lastDays, money } from "../format";
import { useDateTime, useTimeZone } from "../tenant";
import { Descriptions } from "./Descriptions";
import { ExposureChart } from "./LazyCharts";

/** Credit's status of the account (limit, balance, exposure, standing). */
export function useCreditStatus(accountId: string) {
  const api = useApi();
  return useQuery({
    queryKey: ["credit-status", accountId],
    queryFn: () => api.credit.getCreditStatus({ accountId }),
  });
}

/** The account as credit sees it: its standing, what is available, and what is reserved. */
export function CreditTab({ accountId }: { accountId: string }) {
  const dateTime = useDateTime();
  const api = useApi();
  const status = useCreditStatus(accountId);
  const reservations = useQuery({
    queryKey: ["reservations", accountId],
    queryFn: () => api.credit.listReservations({ accountId, pageSize: 50 }),
  });
  const timeZone = useTimeZone();
  const history = useQuery({
    queryKey: ["exposure-history", accountId, timeZone],
    queryFn: () => api.credit.getExposureHistory({ accountId, timeZone, ...lastDays(timeZone, HISTORY_DAYS - 1) }),
  });
  if (status.error) {
    return <Refusal error={status.error} />;
  }
  const found = status.data?.status;
  return (
    <>
      {found && (
        <>
          <Group mb="sm">
            {found.onHold && <Badge color="red">On hold: {found.holdReason}</Badge>}
            {found.outOfTerms && <Badge color="yellow">Out of terms</Badge>}
            {found.outOfCredit && <Badge color="yellow">Out of credit</Badge>}
            {!found.onHold && !found.outOfTerms && !found.outOfCredit && <Badge color="green">In good standing</Badge>}
          </Group>
          <Descriptions
            label="Credit status"
            rows={[
              ["Credit limit", found.unlimited ? "Unlimited" : money(found.creditLimit)],
              ["Balance", money(found.balance)],
              ["Reserved", money(found.reserved)],
              ["Exposure", money(found.exposure)],
              ["Available credit", found.unlimited ? "Unlimited" : money(found.availableCredit)],
            ]}
          />
        </>
      )}
      <Title order={4} mt="lg" mb="sm">
        Exposure, last {HISTORY_DAYS} days
      </Title>
      <Refusal error={history.error} />
      {history.data && <ExposureChart points={history.data.points} />}
      <Title order={4} mt="lg" mb="sm">
        Reservations
      </Title>
      <ListTable
        label="Reservations"
        columns={["Order", "Amount", "Open", "State", "Made"]}
        rows={reservations.data?.reservations}
        error={reservations.error}
        empty="Nothing reserved."
        cells={(reservation) => [
          reservation.orderReference,
          money(reservation.amount),
          money(reservation.openAmount),
          ReservationState[reservation.state],
          dateTime(reservation.createTime),
        ]}
      />
    </>
  );
}
