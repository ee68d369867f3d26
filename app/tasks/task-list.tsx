"use client";
import Link from "next/link";
import { useEffect, useRef, useState } from "react";
import { FilterButtons, FilterForm, RegistrySelect } from "../_components/filters";
import { DataTable, LoadMore, type Column } from "../_components/table";
import { Empty, FormStatus, LiveBadge, Pill, Progress, Time } from "../_components/ui";
import { api } from "../_lib/api";
import { bytes, duration } from "../_lib/format";
import { useLive } from "../_lib/live";
import { usePaged } from "../_lib/paged";
import type { Page, Perms, Task } from "../_lib/types";

export interface TaskFilters {
  registry?: string | undefined;
  status?: string | undefined;
  kind?: string | undefined;
  repository?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

const STATUSES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"];
const KINDS = ["syncRepo", "syncImage", "syncReferrers"];

function query(f: TaskFilters, cursor?: string | null): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, k === "since" || k === "until" ? new Date(v).toISOString() : v);
  if (cursor) p.set("cursor", cursor);
  return p.toString();
}

function matches(t: Task, f: TaskFilters): boolean {
  if (f.registry && t.registryName !== f.registry) return false;
  if (f.kind && t.kind !== f.kind) return false;
  if (f.repository && t.repository !== f.repository) return false;
  if (f.since && new Date(t.queuedAt) < new Date(f.since)) return false;
  if (f.until && new Date(t.queuedAt) >= new Date(f.until)) return false;
  return true;
}

/** datetime-local value from an ISO string (local time), and back. */
const toLocal = (iso?: string) => {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

const COLUMNS: Array<Column<Task>> = [
  { header: "Task", cell: (t) => <><Link href={`/tasks/${t.id}`}>#{t.id}</Link> <span className="muted small">{t.kind}</span></> },
  { header: "Registry", cell: (t) => t.registryName ?? <span className="muted">deleted</span> },
  { header: "Repository", cell: (t) => <code>{t.repository}{t.reference ? `:${t.reference}` : ""}</code> },
  { header: "Status", cell: (t) => <><Pill value={t.status} />{t.errorCode && t.status !== "succeeded" ? <span className="small muted"> {t.errorCode}</span> : null}</> },
  {
    header: "Progress",
    cell: (t) =>
      t.status === "running" ? (
        <Progress value={t.bytesCopied} max={t.bytesTotal} label={`Bytes copied by task ${t.id}`} />
      ) : (
        <span className="small">
          {bytes(t.bytesCopied)} · {t.blobsCopied} copied / {t.blobsSkipped} skipped
        </span>
      ),
  },
  { header: "Queued", cell: (t) => <Time iso={t.queuedAt} /> },
  { header: "Took", className: "small", cell: (t) => (t.startedAt && t.finishedAt ? duration(new Date(t.finishedAt).getTime() - new Date(t.startedAt).getTime()) : "—") },
  { header: "Trigger", className: "small muted", cell: (t) => t.trigger },
];

export function TaskList(props: { registries: string[]; filters: TaskFilters; initial: Page<Task> | null; perms: Perms }) {
  const [filters, setFilters] = useState<TaskFilters>(props.filters);
  const { items, setItems, cursor, fb, load } = usePaged<Task, TaskFilters>((f, c) => `/tasks?${query(f, c)}`, props.initial, "Loading tasks…");
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  useEffect(() => {
    if (!props.initial) void load(props.filters);
  }, [load, props.initial, props.filters]);

  const status = useLive({
    tasks: (t) => {
      const f = filtersRef.current;
      if (!matches(t, f)) return;
      setItems((list) => {
        const i = list.findIndex((x) => x.id === t.id);
        if (i >= 0) return list.map((x) => (x.id === t.id ? t : x));
        if (f.status && t.status !== f.status) return list;
        const top = list[0];
        if (top && BigInt(t.id) < BigInt(top.id)) return list;
        setFresh((s) => new Set(s).add(t.id));
        return [t, ...list];
      });
    },
    // Catch-up after a (re)connection: merge the newest page (ids are increasing).
    onSync: async () => {
      const page = await api<Page<Task>>("GET", `/tasks?${query(filtersRef.current)}`);
      setItems((list) => {
        const byId = new Map(list.map((x) => [x.id, x]));
        for (const t of page.items) byId.set(t.id, t);
        return [...byId.values()].sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
      });
    },
  });

  const apply = (f: TaskFilters) => {
    setFilters(f);
    const q = query(f);
    window.history.replaceState(null, "", q ? `/tasks?${q}` : "/tasks");
    void load(f);
  };

  return (
    <>
      <div className="page-head">
        <h1>Tasks</h1>
        <LiveBadge status={status} />
      </div>
      <FilterForm
        label="Filter tasks"
        onFilter={(d) => {
          const v = (k: string) => (String(d.get(k) ?? "").trim() || undefined);
          const since = v("since");
          const until = v("until");
          apply({ registry: v("registry"), status: v("status"), kind: v("kind"), repository: v("repository"), since: since ? new Date(since).toISOString() : undefined, until: until ? new Date(until).toISOString() : undefined });
        }}
      >
        <RegistrySelect registries={props.registries} value={filters.registry ?? ""} />
        <label>
          Status
          <select name="status" defaultValue={filters.status ?? ""}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select name="kind" defaultValue={filters.kind ?? ""}>
            <option value="">all</option>
            {KINDS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Repository
          <input name="repository" defaultValue={filters.repository ?? ""} placeholder="library/alpine" />
        </label>
        <label>
          Queued after
          <input type="datetime-local" name="since" defaultValue={toLocal(filters.since)} />
        </label>
        <label>
          Queued before
          <input type="datetime-local" name="until" defaultValue={toLocal(filters.until)} />
        </label>
        <FilterButtons submit="Apply">
          <button type="reset" className="btn plain" onClick={() => apply({})}>
            Clear
          </button>
        </FilterButtons>
      </FilterForm>
      <FormStatus fb={fb} />
      <DataTable
        rows={items}
        columns={COLUMNS}
        rowKey={(t) => t.id}
        rowProps={(t) => ({ className: fresh.has(t.id) ? "fresh" : undefined, "data-status": t.status })}
        testId="task-table"
        empty={
          fb?.kind === "pending" ? undefined : (
            <Empty title={Object.values(filters).some(Boolean) ? "No tasks match these filters" : "No tasks yet"}>
              <p>
                Tasks appear here when a registry&apos;s round runs, when someone syncs a repository, or when a client pulls an image on demand.
                {props.perms.operate ? <> Start one with <Link href="/">Sync now</Link> on the overview.</> : null}
              </p>
            </Empty>
          )
        }
      />
      <LoadMore cursor={cursor} label="Load older tasks" onMore={(c) => void load(filters, c)} />
    </>
  );
}
