import type { ReactNode } from "react";
import { Table, Text } from "@mantine/core";
import { Refusal } from "./Refusal";

/** A labelled table of `rows` with `columns`; the refusal when the suite refused the read; a sentence when empty. */
export function ListTable<T>({
  label,
  columns,
  rows,
  cells,
  error,
  empty,
}: {
  label: string;
  columns: string[];
  rows: T[] | undefined;
  cells: (row: T) => ReactNode[];
  error: unknown;
  empty: string;
}) {
  if (error) {
    return <Refusal error={error} />;
  }
  return (
    <>
      <Table striped aria-label={label}>
        <Table.Thead>
          <Table.Tr>
            {columns.map((column) => (
              <Table.Th key={column}>{column}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows?.map((row, index) => (
            <Table.Tr key={index}>
              {cells(row).map((cell, column) => (
                <Table.Td key={column}>{cell}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {rows && rows.length === 0 && (
        <Text mt="sm" c="dimmed">
          {empty}
        </Text>
      )}
    </>
  );
}
