import { useState } from "react";
import { Badge, Button, Group, Select, TextInput, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { AccountStatus } from "@bss/client/gen/bss/accounts/v1/accounts_pb";
import { ListTable } from "./ListTable";
import { useApi } from "../api";

/**
 * The fields an account search can match: the documents' search drop-down,
 * and the starts-with searches an index serves on tenants of any size
 * ("Name contains" reads every account of the tenant).
 */
const FIELDS = [
  { value: "name", label: "Name contains" },
  { value: "namePrefix", label: "Name starts with" },
  { value: "code", label: "Code" },
  { value: "codePrefix", label: "Code starts with" },
  { value: "externalKey", label: "External key" },
  { value: "email", label: "Email" },
  { value: "salesRepId", label: "Sales rep" },
  { value: "territory", label: "Territory" },
  { value: "accountClass", label: "Class" },
] as const;

type Field = (typeof FIELDS)[number]["value"];

export function statusBadge(status: AccountStatus) {
  const [label, color] =
    status === AccountStatus.ACTIVE
      ? ["Active", "green"]
      : status === AccountStatus.SUSPENDED
        ? ["Suspended", "yellow"]
        : status === AccountStatus.TERMINATED
          ? ["Terminated", "gray"]
          : [AccountStatus[status] ?? "Unknown", "gray"];
  return <Badge color={color}>{label}</Badge>;
}

/** Account search: a field, a text, Find; a page at a time. */
export function Accounts() {
  const api = useApi();
  const [field, setField] = useState<Field>("name");
  const [text, setText] = useState("");
  const [search, setSearch] = useState<{ field: Field; text: string }>({ field: "name", text: "" });
  const [pages, setPages] = useState<string[]>([""]);
  const pageToken = pages[pages.length - 1];
  const found = useQuery({
    queryKey: ["accounts", search, pageToken],
    queryFn: () => api.accounts.listAccounts({ [search.field]: search.text, pageSize: 25, pageToken }),
  });
  const find = () => {
    setSearch({ field, text: text.trim() });
    setPages([""]);
  };
  return (
    <>
      <Title order={2} mb="md">
        Accounts
      </Title>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          find();
        }}
      >
        <Group align="end" mb="md">
          <Select
            label="Search by"
            data={FIELDS.map((f) => ({ value: f.value, label: f.label }))}
            value={field}
            onChange={(value) => value && setField(value as Field)}
            allowDeselect={false}
            w={200}
          />
          <TextInput label="Text" value={text} onChange={(event) => setText(event.currentTarget.value)} w={320} />
          <Button type="submit">Find</Button>
        </Group>
      </form>
      <ListTable
        label="Accounts found"
        columns={["Code", "Name", "Status", "Email", "Currency"]}
        rows={found.data?.accounts}
        error={found.error}
        empty="No account matches."
        cells={(account) => [
          <Link to={`/accounts/${account.id}`}>{account.code}</Link>,
          account.name,
          statusBadge(account.status),
          account.email,
          account.currencyCode,
        ]}
      />
      <Group mt="md">
        <Button variant="default" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
          Previous page
        </Button>
        <Button
          variant="default"
          disabled={!found.data?.nextPageToken}
          onClick={() => found.data && setPages([...pages, found.data.nextPageToken])}
        >
          Next page
        </Button>
      </Group>
    </>
  );
}
