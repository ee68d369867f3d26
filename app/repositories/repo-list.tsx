"use client";
import Link from "next/link";
import { useEffect, useState } from "react";
import { FilterButtons, FilterForm, RegistrySelect } from "../_components/filters";
import { DataTable, LoadMore, type Column } from "../_components/table";
import { Empty, FormStatus, Time } from "../_components/ui";
import { bytes } from "../_lib/format";
import { usePaged } from "../_lib/paged";
import type { Page, Perms, Repository } from "../_lib/types";

export function repoHref(registry: string, repo: string): string {
  return `/repositories/${encodeURIComponent(registry)}/${repo.split("/").map(encodeURIComponent).join("/")}`;
}

type Filters = { registry: string; prefix: string };

function qs(f: Filters, cursor?: string | null): string {
  const p = new URLSearchParams();
  if (f.registry) p.set("registry", f.registry);
  if (f.prefix) p.set("prefix", f.prefix);
  if (cursor) p.set("cursor", cursor);
  return p.toString();
}

const COLUMNS: Array<Column<Repository>> = [
  {
    header: "Repository",
    cell: (r) => (
      <>
        <Link href={repoHref(r.registryName, r.repository)}>{r.repository}</Link>{" "}
        {r.periodic ? null : <span className="pill muted" title="Not in periodic rounds: it came on demand (can be promoted on its page)">on demand</span>}
      </>
    ),
  },
  { header: "Registry", cell: (r) => r.registryName },
  {
    header: "Tags",
    className: "small",
    cell: (r) => (
      <>
        {r.tags.slice(0, 6).map((t) => (
          <span key={t.tag} className="chip">
            {t.tag}
          </span>
        ))}
        {r.tagCount > 6 ? <span className="muted"> +{r.tagCount - 6}</span> : null}
      </>
    ),
  },
  { header: "Size", cell: (r) => bytes(r.size) },
  { header: "Last synced", cell: (r) => <Time iso={r.lastSyncedAt} /> },
];

export function RepoList(props: { registries: string[]; filters: Filters; initial: Page<Repository> | null; perms: Perms }) {
  const [filters, setFilters] = useState(props.filters);
  const { items, cursor, fb, load } = usePaged<Repository, Filters>((f, c) => `/repositories?${qs(f, c)}`, props.initial, "Loading repositories…");
  useEffect(() => {
    if (!props.initial) void load(props.filters);
  }, [load, props.initial, props.filters]);

  return (
    <>
      <h1>Repositories</h1>
      <FilterForm
        label="Filter repositories"
        onFilter={(d) => {
          const f = { registry: String(d.get("registry") ?? ""), prefix: String(d.get("prefix") ?? "").trim() };
          setFilters(f);
          window.history.replaceState(null, "", `/repositories${qs(f) ? `?${qs(f)}` : ""}`);
          void load(f);
        }}
      >
        <RegistrySelect registries={props.registries} value={filters.registry} />
        <label>
          Name starts with
          <input name="prefix" defaultValue={filters.prefix} placeholder="library/" />
        </label>
        <FilterButtons submit="Search" />
      </FilterForm>
      <FormStatus fb={fb} />
      <DataTable
        rows={items}
        columns={COLUMNS}
        rowKey={(r) => `${r.registryName}/${r.repository}`}
        testId="repo-table"
        // While the first page loads, an empty table rather than "nothing here".
        empty={
          fb?.kind === "pending" ? undefined : (
            <Empty title={filters.prefix || filters.registry ? "No repositories match" : "Nothing mirrored yet"}>
              <p>
                Repositories appear once a registry&apos;s round has synced them or a client pulled them on demand.{" "}
                {props.perms.operate ? <>Start a round with <Link href="/">Sync now</Link>.</> : null}
              </p>
            </Empty>
          )
        }
      />
      <LoadMore cursor={cursor} label="Load more" onMore={(c) => void load(filters, c)} />
    </>
  );
}
