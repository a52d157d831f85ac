import { Table } from "@mantine/core";

/** Label and value pairs, as a two-column table (empty values shown as a dash). */
export function Descriptions({ rows, label }: { rows: [string, string][]; label?: string }) {
  return (
    <Table withRowBorders={false} maw={720} aria-label={label}>
      <Table.Tbody>
        {rows.map(([label, value]) => (
          <Table.Tr key={label}>
            <Table.Th w={220} scope="row">
              {label}
            </Table.Th>
            <Table.Td>{value || "—"}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
