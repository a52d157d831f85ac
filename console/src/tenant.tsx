// The tenant the console works in: its time zone, in which every date and
// time is shown and the charts count days (the tenant's setting,
// TenantService.SetTimeZone; UTC when it is not set or may not be read).

import { createContext, useContext, type ReactNode } from "react";
import { Center, Loader } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { useApi } from "./api";
import { useSession } from "./session";
import { dateTime } from "./format";

const TimeZoneContext = createContext("UTC");

/** Reads the tenant the caller works in and gives its time zone to the pages. */
export function TenantTimeZone({ children }: { children: ReactNode }) {
  const api = useApi();
  const { claims, actingTenant } = useSession();
  const tenantId = actingTenant ?? claims?.tenant;
  const tenant = useQuery({
    queryKey: ["tenant", tenantId],
    queryFn: () => api.tenants.getTenant({ id: tenantId! }),
    enabled: Boolean(tenantId),
  });
  // The pages wait for it (one call), so no date is shown in another zone
  // first; a caller who may not read the tenant sees UTC.
  if (tenantId && tenant.isPending) {
    return (
      <Center h="100vh">
        <Loader aria-label="Reading the tenant" />
      </Center>
    );
  }
  return <TimeZoneContext.Provider value={tenant.data?.tenant?.timeZone || "UTC"}>{children}</TimeZoneContext.Provider>;
}

/** The tenant's time zone. */
export function useTimeZone(): string {
  return useContext(TimeZoneContext);
}

/** Formats a timestamp in the tenant's time zone, to the minute. */
export function useDateTime(): (when: Timestamp | undefined) => string {
  const timeZone = useTimeZone();
  return (when) => dateTime(when, timeZone);
}
