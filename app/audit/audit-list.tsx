"use client";
import { useState } from "react";
import { FilterButtons, FilterForm } from "../_components/filters";
import { DataTable, LoadMore, type Column } from "../_components/table";
import { Empty, FormStatus, Pill, Time } from "../_components/ui";
import { usePaged } from "../_lib/paged";
import type { AuditRow, Page } from "../_lib/types";

function url(f: { actor: string; action: string }, cursor?: string | null): string {
  const p = new URLSearchParams();
  if (f.actor) p.set("actor", f.actor);
  if (f.action) p.set("action", f.action);
  if (cursor) p.set("cursor", cursor);
  return `/audit?${p}`;
}

const COLUMNS: Array<Column<AuditRow>> = [
  { header: "When", cell: (e) => <Time iso={e.at} /> },
  { header: "Who", cell: (e) => <>{e.actor} <span className="small muted">via {e.via}</span></> },
  { header: "Action", cell: (e) => <code>{e.action}</code> },
  { header: "Target", className: "small", cell: (e) => e.target ?? "—" },
  { header: "Outcome", cell: (e) => <><Pill value={e.outcome} />{e.errorCode ? <span className="small muted"> {e.errorCode}</span> : null}</> },
  { header: "From", className: "small muted", cell: (e) => <span title={e.userAgent ?? undefined}>{e.ip ?? "—"}</span> },
];

export function AuditList({ initial }: { initial: Page<AuditRow> }) {
  const [filters, setFilters] = useState({ actor: "", action: "" });
  const { items, cursor, fb, load } = usePaged<AuditRow, typeof filters>(url, initial, "Loading…");
  return (
    <>
      <h1>Audit log</h1>
      <FilterForm
        label="Filter the audit log"
        onFilter={(d) => {
          const f = { actor: String(d.get("actor") ?? "").trim(), action: String(d.get("action") ?? "").trim() };
          setFilters(f);
          void load(f);
        }}
      >
        <label>
          Actor
          <input name="actor" defaultValue={filters.actor} placeholder="username" />
        </label>
        <label>
          Action
          <input name="action" defaultValue={filters.action} placeholder="registry.create" list="audit-actions" />
        </label>
        <datalist id="audit-actions">
          {["session.create", "session.delete", "setup", "registry.create", "registry.update", "registry.delete", "registry.sync", "registry.pause", "registry.resume", "registry.preview", "generator.reset", "repository.sync", "task.cancel", "task.retry", "user.create", "user.update", "user.delete", "token.create", "token.revoke"].map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <FilterButtons submit="Filter" />
      </FilterForm>
      <FormStatus fb={fb} />
      <DataTable rows={items} columns={COLUMNS} rowKey={(e) => e.id} testId="audit-table" empty={<Empty title="No audit entries match" />} />
      <LoadMore cursor={cursor} label="Load older entries" onMore={(c) => void load(filters, c)} />
    </>
  );
}
