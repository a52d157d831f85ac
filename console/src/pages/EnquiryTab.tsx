import { Stack, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { InvoiceStatus } from "@bss/client/gen/bss/billing/v1/invoices_pb";
import { OrderStatus } from "@bss/client/gen/bss/billing/v1/orders_pb";
import { TransactionKind } from "@bss/client/gen/bss/billing/v1/ledger_pb";
import { useApi } from "../api";
import { HISTORY_DAYS, lastDays, money } from "../format";
import { useDateTime, useTimeZone } from "../tenant";
import { ListTable } from "./ListTable";
import { AgingChart, BalanceChart } from "./LazyCharts";
import { Refusal } from "./Refusal";
import { useCreditStatus } from "./CreditTab";
import { useAging } from "./Receivables";


export function EnquiryTab({ accountId }: { accountId: string }) {
  const dateTime = useDateTime();
  const api = useApi();
  const invoices = useQuery({
    queryKey: ["invoices", accountId],
    queryFn: () => api.invoices.listInvoices({ accountId, pageSize: 50 }),
  });
  const orders = useQuery({
    queryKey: ["orders", accountId],
    queryFn: () => api.orders.listOrders({ accountId, pageSize: 50 }),
  });
  const timeZone = useTimeZone();
  const aging = useAging(accountId);
  const history = useQuery({
    queryKey: ["balance-history", accountId, timeZone],
    queryFn: () => api.ledger.getBalanceHistory({ accountId, timeZone, ...lastDays(timeZone, HISTORY_DAYS - 1) }),
  });
  const status = useCreditStatus(accountId);
  const transactions = useQuery({
    queryKey: ["transactions", accountId],
    queryFn: () => api.ledger.listTransactions({ accountId, pageSize: 50 }),
  });
  return (
    <Stack>
      <Title order={4}>Balance, last {HISTORY_DAYS} days</Title>
      <Refusal error={history.error} />
      {history.data && <BalanceChart points={history.data.points} limit={status.data?.status?.creditLimit} />}
      <Title order={4}>Aging of receivables</Title>
      <Refusal error={aging.error} />
      {aging.data && <AgingChart aging={aging.data.aging} asOf={aging.data.asOfDate} label="Aging" />}
      <Title order={4}>Invoices</Title>
      <ListTable
        label="Invoices"
        columns={["Number", "Date", "Due", "Status", "Total", "Settled"]}
        rows={invoices.data?.invoices}
        error={invoices.error}
        empty="No invoice yet."
        cells={(invoice) => [
          invoice.number ? String(invoice.number) : "draft",
          invoice.invoiceDate,
          invoice.dueDate,
          InvoiceStatus[invoice.status],
          money(invoice.total),
          money(invoice.settled),
        ]}
      />
      <Title order={4}>Orders</Title>
      <ListTable
        label="Orders"
        columns={["Reference", "Placed", "Status", "Total", "Back ordered lines"]}
        rows={orders.data?.orders}
        error={orders.error}
        empty="No order yet."
        cells={(order) => [
          order.reference,
          dateTime(order.createTime),
          OrderStatus[order.status],
          money(order.total),
          String(order.lines.filter((line) => /[1-9]/.test(line.backorderedQuantity?.value ?? "")).length),
        ]}
      />
      <Title order={4}>Transactions</Title>
      <ListTable
        label="Transactions"
        columns={["Posted", "Kind", "Invoice", "Amount", "Open"]}
        rows={transactions.data?.transactions}
        error={transactions.error}
        empty="Nothing posted yet."
        cells={(transaction) => [
          dateTime(transaction.postTime),
          TransactionKind[transaction.kind],
          transaction.invoiceNumber ? String(transaction.invoiceNumber) : "",
          money(transaction.amount),
          money(transaction.openAmount),
        ]}
      />
    </Stack>
  );
}
