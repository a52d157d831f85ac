import { Button, Stack, Text, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Refusal } from "./Refusal";
import type { SyncFailure } from "@bss/client/gen/bss/resellersync/v1/sync_pb";
import { useApi } from "../api";
import { useSession } from "../session";
import { useDateTime } from "../tenant";
import { ListTable } from "./ListTable";

/** The reseller sync as the distributor sees it: each source stream's position and lag, its links, and the events set aside, each retried on demand. */
export function ResellerSync() {
  const dateTime = useDateTime();
  const api = useApi();
  const { may } = useSession();
  const queries = useQueryClient();
  const status = useQuery({
    queryKey: ["sync-status"],
    queryFn: () => api.resellerSync.getSyncStatus({}),
    refetchInterval: 5_000,
  });
  const links = useQuery({ queryKey: ["sync-links"], queryFn: () => api.resellerSync.listLinks({ pageSize: 100 }) });
  const failures = useQuery({
    queryKey: ["sync-failures"],
    queryFn: () => api.resellerSync.listSyncFailures({ pageSize: 100 }),
  });
  const retry = useMutation({
    mutationFn: (failure: SyncFailure) =>
      api.resellerSync.retrySync({ stream: failure.stream, sequence: failure.sequence }),
    onSettled: () => queries.invalidateQueries({ queryKey: ["sync-failures"] }),
  });
  return (
    <Stack>
      <Title order={2}>Reseller sync</Title>
      <ListTable
        label="Source streams"
        columns={["Stream", "Position", "Last event", "Lag"]}
        rows={status.data?.streams}
        error={status.error}
        empty="The sync has read no stream yet."
        cells={(stream) => [
          stream.stream,
          String(stream.position),
          dateTime(stream.lastEventTime),
          `${String(stream.lagMillis)} ms`,
        ]}
      />
      <Title order={4}>Links</Title>
      <ListTable
        label="Links"
        columns={["Reseller", "Reseller tenant", "Its account here", "Currency", "Since"]}
        rows={links.data?.links}
        error={links.error}
        empty="No reseller tenant is linked to this one."
        cells={(link) => [
          link.resellerName,
          link.resellerTenantId,
          link.tenantResellerAccountId,
          link.currencyCode,
          dateTime(link.createTime),
        ]}
      />
      <Title order={4}>Events set aside</Title>
      {retry.data && (
        <Text role="status">{retry.data.applied ? "Applied." : `Failed again: ${retry.data.error}`}</Text>
      )}
      <Refusal error={retry.error} />
      <ListTable
        label="Events set aside"
        columns={["Stream", "Sequence", "Error", "Attempts", "Last failed", ""]}
        rows={failures.data?.failures}
        error={failures.error}
        empty="No event is set aside."
        cells={(failure) => [
          failure.stream,
          String(failure.sequence),
          failure.error,
          String(failure.attempts),
          dateTime(failure.updateTime),
          may("tenant_admin") ? (
            <Button size="xs" onClick={() => retry.mutate(failure)} loading={retry.isPending}>
              Retry {failure.stream} {String(failure.sequence)}
            </Button>
          ) : (
            ""
          ),
        ]}
      />
    </Stack>
  );
}
