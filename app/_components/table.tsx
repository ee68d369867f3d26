"use client";
/**
 * The one table of the dashboard: a scrolling wrapper, a header row of column names, a row per
 * item, and an empty state instead of an empty table. Each cell carries its column's name
 * (`data-label`) so that on a phone the stylesheet can show rows as stacked cards instead of a
 * table wider than the screen.
 */
import type { HTMLAttributes, ReactNode } from "react";

export interface Column<T> {
  /** The column's name: its header and, on narrow screens, the label before each value. */
  header: string;
  cell: (row: T) => ReactNode;
  /** Class of the column's cells (`small`, `muted`, `actions`). */
  className?: string;
  /** Leave the column out (a column only some roles may use). */
  hidden?: boolean;
}

export function DataTable<T>(props: {
  rows: T[];
  columns: Array<Column<T>>;
  rowKey: (row: T, index: number) => string;
  /** Extra attributes of a row (class, data-status). */
  rowProps?: (row: T) => HTMLAttributes<HTMLTableRowElement> & Record<`data-${string}`, string | undefined>;
  testId?: string;
  /** What to show instead of a table without rows (an `<Empty>` saying what to do next). */
  empty?: ReactNode;
}) {
  if (props.rows.length === 0 && props.empty !== undefined) return <>{props.empty}</>;
  const cols = props.columns.filter((c) => !c.hidden);
  return (
    <div className="table-wrap">
      <table className="table stack" data-testid={props.testId}>
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c.header} scope="col">
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r, i) => (
            <tr key={props.rowKey(r, i)} {...props.rowProps?.(r)}>
              {cols.map((c) => (
                <td key={c.header} className={c.className} data-label={c.header}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The "next page" button of a cursor-paged list; nothing when there is no next page. */
export function LoadMore({ cursor, label, onMore }: { cursor: string | null; label: string; onMore: (cursor: string) => void }) {
  if (!cursor) return null;
  return (
    <button type="button" className="btn plain" onClick={() => onMore(cursor)}>
      {label}
    </button>
  );
}
