// Charts where people would rather look than read: the aging of
// receivables, an account's balance and its exposure over time. The bars and lines are
// drawn from the suite's exact decimal strings read as numbers (drawing
// only); every figure shown in words, and the table beside each chart,
// is the exact string formatted by currency. The pictures are hidden from
// assistive technology (and out of the tab order): the words and tables
// carry the same figures.

import { AreaChart, BarChart } from "@mantine/charts";
import { Stack, Text } from "@mantine/core";
import type { ReceivablesAging } from "@bss/client/gen/bss/billing/v1/payments_pb";
import type { BalancePoint } from "@bss/client/gen/bss/billing/v1/ledger_pb";
import type { ExposurePoint } from "@bss/client/gen/bss/credit/v1/credit_pb";
import type { Money } from "@bss/client/gen/bss/type/v1/money_pb";
import { money } from "../format";
import { ListTable } from "./ListTable";

/** The buckets of an aging, oldest last, as billing counts them. */
const BUCKETS = [
  ["Current", (aging: ReceivablesAging) => aging.current],
  ["1–30 days", (aging: ReceivablesAging) => aging.days1To30],
  ["31–60 days", (aging: ReceivablesAging) => aging.days31To60],
  ["61–90 days", (aging: ReceivablesAging) => aging.days61To90],
  ["Over 90 days", (aging: ReceivablesAging) => aging.over90Days],
] as const;

/** The days of a history whose `figures` differ from the day before's (the first day always). */
function changesOf<T>(points: T[], figures: (point: T) => string): T[] {
  return points.filter((point, index) => index === 0 || figures(point) !== figures(points[index - 1]));
}

/** A chart's amounts formatted in `currencyCode`. */
function inCurrency(currencyCode: string) {
  return (value: number) => money({ currencyCode, amount: String(value) } as Money);
}

/** What open invoices owe by how long past due, one chart per currency, each with its table. */
export function AgingChart({ aging, asOf, label }: { aging: ReceivablesAging[]; asOf: string; label: string }) {
  if (aging.length === 0) {
    return <Text c="dimmed">Nothing owed on posted invoices (as of {asOf}).</Text>;
  }
  return (
    <Stack>
      {aging.map((one) => (
        <Stack key={one.currencyCode} gap="xs">
          <Text size="sm">
            {money(one.total)} owed on {String(one.openInvoices)} {one.openInvoices === 1n ? "invoice" : "invoices"}, as of{" "}
            {asOf}
          </Text>
          <BarChart
            h={220}
            aria-hidden
            accessibilityLayer={false}
            data={BUCKETS.map(([bucket, of]) => ({ bucket, owed: Number(of(one)?.amount ?? "0") }))}
            dataKey="bucket"
            series={[{ name: "owed", label: "Owed", color: "blue.8" }]}
            valueFormatter={inCurrency(one.currencyCode)}
            withTooltip={false}
          />
          <ListTable
            label={`${label} in ${one.currencyCode}`}
            columns={[...BUCKETS.map(([bucket]): string => bucket), "Total"]}
            rows={[one]}
            error={null}
            empty=""
            cells={(row) => BUCKETS.map(([, of]) => money(of(row))).concat(money(row.total))}
          />
        </Stack>
      ))}
    </Stack>
  );
}

/** An account's balance at the end of each day, with its credit limit when it has one; the days it changed in a table. */
export function BalanceChart({ points, limit }: { points: BalancePoint[]; limit?: Money }) {
  const currencyCode = points[0]?.balance?.currencyCode ?? limit?.currencyCode ?? "";
  const first = points[0];
  const last = points[points.length - 1];
  return (
    <Stack gap="xs">
      {first && last && (
        <Text size="sm">
          {money(first.balance)} on {first.date}, {money(last.balance)} on {last.date}
          {limit ? `; credit limit ${money(limit)}` : ""}
        </Text>
      )}
      <AreaChart
        h={220}
        aria-hidden
        accessibilityLayer={false}
        data={points.map((point) => ({ date: point.date, balance: Number(point.balance?.amount ?? "0") }))}
        dataKey="date"
        series={[{ name: "balance", label: "Balance", color: "blue.8" }]}
        curveType="step"
        withDots={false}
        valueFormatter={inCurrency(currencyCode)}
        referenceLines={limit ? [{ y: Number(limit.amount), label: "Credit limit", color: "red.8" }] : []}
      />
      <ListTable
        label="Balance changes"
        columns={["Day", "Balance at its end"]}
        rows={changesOf(points, (point) => point.balance?.amount ?? "")}
        error={null}
        empty=""
        cells={(point) => [point.date, money(point.balance)]}
      />
    </Stack>
  );
}


/** An account's exposure (balance + open reservations) and balance at the end of each day, with the credit limit of each day; the days they changed in a table. */
export function ExposureChart({ points }: { points: ExposurePoint[] }) {
  const last = points[points.length - 1];
  if (!last) {
    return <Text c="dimmed">Credit has recorded nothing of this account in these days yet.</Text>;
  }
  const currencyCode = last.exposure?.currencyCode ?? "";
  const limited = points.some((point) => point.creditLimit);
  return (
    <Stack gap="xs">
      <Text size="sm">
        Exposure {money(last.exposure)} on {last.date} (balance {money(last.balance)}, reserved {money(last.reserved)})
        {last.creditLimit ? `; credit limit ${money(last.creditLimit)}, ${money(last.availableCredit)} available` : "; unlimited credit"}
      </Text>
      <AreaChart
        h={220}
        aria-hidden
        accessibilityLayer={false}
        data={points.map((point) => ({
          date: point.date,
          exposure: Number(point.exposure?.amount ?? "0"),
          balance: Number(point.balance?.amount ?? "0"),
          ...(point.creditLimit ? { limit: Number(point.creditLimit.amount) } : {}),
        }))}
        dataKey="date"
        series={[
          { name: "exposure", label: "Exposure", color: "blue.8" },
          { name: "balance", label: "Balance", color: "teal.8" },
          ...(limited ? [{ name: "limit", label: "Credit limit", color: "red.8" }] : []),
        ]}
        curveType="step"
        withDots={false}
        withLegend
        fillOpacity={0.15}
        valueFormatter={inCurrency(currencyCode)}
      />
      <ListTable
        label="Exposure changes"
        columns={["Day", "Balance", "Reserved", "Exposure", "Credit limit", "Available"]}
        rows={changesOf(points, (point) =>
          [point.balance, point.reserved, point.creditLimit].map((figure) => figure?.amount ?? "unlimited").join(" "),
        )}
        error={null}
        empty=""
        cells={(point) => [
          point.date,
          money(point.balance),
          money(point.reserved),
          money(point.exposure),
          point.creditLimit ? money(point.creditLimit) : "Unlimited",
          point.availableCredit ? money(point.availableCredit) : "Unlimited",
        ]}
      />
    </Stack>
  );
}
