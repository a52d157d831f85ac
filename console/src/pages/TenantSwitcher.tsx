import { Select, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { TenantStatus, type Tenant } from "@bss/client/gen/bss/accounts/v1/tenants_pb";
import { useApi } from "../api";
import { useSession } from "../session";
import { Refusal } from "./Refusal";

/** Most tenants the switcher offers (pages of 500 read until then). */
const MOST_TENANTS = 5_000;

/** Every tenant of the platform, oldest first, as the platform administrator lists them (kept across switches). */
function useTenants() {
  const api = useApi();
  return useQuery({
    queryKey: ["platform-tenants"],
    queryFn: async () => {
      const tenants: Tenant[] = [];
      let pageToken = "";
      do {
        const page = await api.tenants.listTenants({ pageSize: 500, pageToken });
        tenants.push(...page.tenants);
        pageToken = page.nextPageToken;
      } while (pageToken && tenants.length < MOST_TENANTS);
      return tenants;
    },
  });
}

/** The platform administrator's tenant switcher: the console then works in the tenant chosen, as its administrator. */
export function TenantSwitcher() {
  const { actingTenant, switchTenant } = useSession();
  const tenants = useTenants();
  return (
    <Select
      aria-label="Tenant"
      size="xs"
      w={220}
      searchable
      placeholder="Choose a tenant"
      nothingFoundMessage="No such tenant"
      value={actingTenant}
      onChange={(tenantId) => tenantId && switchTenant(tenantId)}
      data={(tenants.data ?? []).map((tenant) => ({
        value: tenant.id,
        label: tenant.status === TenantStatus.SUSPENDED ? `${tenant.name} (suspended)` : tenant.name,
      }))}
      error={tenants.error ? "The tenants could not be read" : undefined}
      allowDeselect={false}
    />
  );
}

/** What a platform administrator sees before choosing a tenant. */
export function ChooseTenant() {
  const tenants = useTenants();
  return (
    <Stack>
      <Title order={2}>Choose a tenant</Title>
      <Text>
        You are signed in as a platform administrator. Choose a tenant above: the console then works in its books with its
        administrator's rights{tenants.data ? ` (${tenants.data.length} tenants)` : ""}.
      </Text>
      <Refusal error={tenants.error} />
    </Stack>
  );
}
