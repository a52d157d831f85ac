import { useQuery } from "@tanstack/react-query";
import { AddressType } from "@bss/client/gen/bss/accounts/v1/accounts_pb";
import { useApi } from "../api";
import { ListTable } from "./ListTable";

/** The account's contacts, the primary one marked. */
export function ContactsTab({ accountId }: { accountId: string }) {
  const api = useApi();
  const contacts = useQuery({
    queryKey: ["contacts", accountId],
    queryFn: () => api.accounts.listContacts({ accountId, pageSize: 100 }),
  });
  return (
    <ListTable
      label="Contacts"
      columns={["Name", "Email", "Phone", "Roles", "Primary"]}
      rows={contacts.data?.contacts}
      error={contacts.error}
      empty="No contact."
      cells={(contact) => [
        [contact.firstName, contact.lastName].filter(Boolean).join(" "),
        contact.email,
        contact.phone,
        contact.roles.join(", "),
        contact.isPrimary ? "Primary" : "",
      ]}
    />
  );
}

/** The account's addresses, each with its purpose. */
export function AddressesTab({ accountId }: { accountId: string }) {
  const api = useApi();
  const addresses = useQuery({
    queryKey: ["addresses", accountId],
    queryFn: () => api.accounts.listAddresses({ accountId, pageSize: 100 }),
  });
  return (
    <ListTable
      label="Addresses"
      columns={["Purpose", "Street", "City", "Postal code", "Country", "Primary"]}
      rows={addresses.data?.addresses}
      error={addresses.error}
      empty="No address."
      cells={(address) => [
        AddressType[address.type],
        address.lines.join(", "),
        address.city,
        address.postalCode,
        address.countryCode,
        address.isPrimary ? "Primary" : "",
      ]}
    />
  );
}

/** The users who log in for the account. */
export function UsersTab({ accountId }: { accountId: string }) {
  const api = useApi();
  const users = useQuery({
    queryKey: ["users", accountId],
    queryFn: () => api.users.listUsers({ accountId, pageSize: 100 }),
  });
  return (
    <ListTable
      label="Users"
      columns={["Name", "Email", "Sales rep id"]}
      rows={users.data?.users}
      error={users.error}
      empty="No user logs in for this account."
      cells={(user) => [user.displayName, user.email, user.salesRepId]}
    />
  );
}
