import { Alert, Loader, Tabs, Text, Title } from "@mantine/core";
import { Descriptions } from "./Descriptions";
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import { AccountKind } from "@bss/client/gen/bss/accounts/v1/accounts_pb";
import { Refusal } from "./Refusal";
import { ListTable } from "./ListTable";
import { useApi } from "../api";
import { statusBadge } from "./Accounts";
import { useDateTime } from "../tenant";
import { CreditTab } from "./CreditTab";
import { EnquiryTab } from "./EnquiryTab";
import { AddressesTab, ContactsTab, UsersTab } from "./PeopleTabs";
import { PricingTab } from "./PricingTab";
import { QuoteTab } from "./QuoteTab";

/** One account: its details and lifecycle history, then (as the console grows) each side's view of it. */
export function Account() {
  const dateTime = useDateTime();
  const { id = "" } = useParams();
  const api = useApi();
  const account = useQuery({ queryKey: ["account", id], queryFn: () => api.accounts.getAccount({ id }) });
  const history = useQuery({
    queryKey: ["account-history", id],
    queryFn: () => api.accounts.listAccountHistory({ accountId: id, pageSize: 50 }),
  });
  if (account.error) {
    return <Refusal error={account.error} />;
  }
  const found = account.data?.account;
  if (!found) {
    return <Loader aria-label="Loading the account" />;
  }
  // A managed copy: the reseller sync keeps these fields; they are shown
  // read-only and marked (accounts refuses changes to them: FIELD_LOCKED).
  const locked = new Set(found.managedBy?.lockedFields ?? []);
  const field = (name: string, label: string, value: string): [string, string] => [
    locked.has(name) ? `${label} (locked)` : label,
    value,
  ];
  return (
    <>
      {found.ribbonText && (
        <Alert color="violet" mb="md" role="note" title="Reseller's customer">
          <Text size="sm">{found.ribbonText}</Text>
          {locked.size > 0 && <Text size="sm">Locked fields (only the sync changes them): {[...locked].join(", ")}.</Text>}
        </Alert>
      )}
      <Title order={2} mb="md">
        {found.name} <small>({found.code})</small> {statusBadge(found.status)}
      </Title>
      <Tabs defaultValue="details" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="details">Details</Tabs.Tab>
          <Tabs.Tab value="history">History</Tabs.Tab>
          <Tabs.Tab value="contacts">Contacts</Tabs.Tab>
          <Tabs.Tab value="addresses">Addresses</Tabs.Tab>
          <Tabs.Tab value="pricing">Pricing</Tabs.Tab>
          <Tabs.Tab value="quote">Quote</Tabs.Tab>
          <Tabs.Tab value="credit">Credit</Tabs.Tab>
          <Tabs.Tab value="enquiry">Enquiry</Tabs.Tab>
          <Tabs.Tab value="users">Users</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="details" pt="md">
          <Descriptions
            label="Account details"
            rows={[
              field("code", "Code", found.code),
              field("name", "Name", found.name),
              field("kind", "Kind", AccountKind[found.kind] ?? ""),
              field("email", "Email", found.email),
              field("billing_email", "Billing email", found.billingEmail),
              field("currency_code", "Currency", found.currencyCode),
              field("sales_rep_id", "Sales rep", found.salesRepId),
              field("territory", "Territory", found.territory),
              field("account_class", "Class", found.accountClass),
              field("external_key", "External key", found.externalKey),
              field("enable_ordering", "Ordering enabled", found.enableOrdering ? "Yes" : "No"),
              field("sync_options", "Synchronized with", found.syncOptions.join(", ")),
            ]}
          />
        </Tabs.Panel>
        <Tabs.Panel value="history" pt="md">
          <ListTable
            label="Lifecycle history"
            columns={["When", "Change", "By", "Reason"]}
            rows={history.data?.entries}
            error={history.error}
            empty="No lifecycle change yet."
            cells={(entry) => [dateTime(entry.occurTime), entry.action, entry.actor, entry.reason]}
          />
        </Tabs.Panel>
        <Tabs.Panel value="contacts" pt="md">
          <ContactsTab accountId={id} />
        </Tabs.Panel>
        <Tabs.Panel value="addresses" pt="md">
          <AddressesTab accountId={id} />
        </Tabs.Panel>
        <Tabs.Panel value="pricing" pt="md">
          <PricingTab accountId={id} />
        </Tabs.Panel>
        <Tabs.Panel value="quote" pt="md">
          <QuoteTab accountId={id} />
        </Tabs.Panel>
        <Tabs.Panel value="credit" pt="md">
          <CreditTab accountId={id} />
        </Tabs.Panel>
        <Tabs.Panel value="enquiry" pt="md">
          <EnquiryTab accountId={id} />
        </Tabs.Panel>
        <Tabs.Panel value="users" pt="md">
          <UsersTab accountId={id} />
        </Tabs.Panel>
      </Tabs>
    </>
  );
}
