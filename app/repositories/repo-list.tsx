"use client";
import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { Empty, FormStatus, Time, type Feedback } from "../_components/ui";
import { api, errorMessage } from "../_lib/api";
import { bytes } from "../_lib/format";
import type { Page, Perms, Repository } from "../_lib/types";

export function repoHref(registry: string, repo: string): string {
  return `/repositories/${encodeURIComponent(registry)}/${repo.split("/").map(encodeURIComponent).join("/")}`;
}

export function RepoList(props: { registries: string[]; filters: { registry: string; prefix: string }; initial: Page<Repository> | null; perms: Perms }) {
  const [filters, setFilters] = useState(props.filters);
  const [items, setItems] = useState(props.initial?.items ?? []);
  const [cursor, setCursor] = useState(props.initial?.nextCursor ?? null);
  const [fb, setFb] = useState<Feedback>(null);
  const qs = (f: { registry: string; prefix: string }, c?: string | null) => {
    const p = new URLSearchParams();
    if (f.registry) p.set("registry", f.registry);
    if (f.prefix) p.set("prefix", f.prefix);
    if (c) p.set("cursor", c);
    return p.toString();
  };
  const load = useCallback(async (f: { registry: string; prefix: string }, c?: string | null) => {
    setFb({ kind: "pending", text: "Loading repositories…" });
    try {
      const page = await api<Page<Repository>>("GET", `/repositories?${qs(f, c)}`);
      setItems((l) => (c ? [...l, ...page.items] : page.items));
      setCursor(page.nextCursor);
      setFb(null);
    } catch (err) {
      setFb({ kind: "error", text: errorMessage(err) });
    }
  }, []);
  useEffect(() => {
    if (!props.initial) void load(props.filters);
  }, [load, props.initial, props.filters]);

  return (
    <>
      <h1>Repositories</h1>
      <form
        className="filters"
        aria-label="Filter repositories"
        onSubmit={(e) => {
          e.preventDefault();
          const d = new FormData(e.currentTarget);
          const f = { registry: String(d.get("registry") ?? ""), prefix: String(d.get("prefix") ?? "").trim() };
          setFilters(f);
          window.history.replaceState(null, "", `/repositories${qs(f) ? `?${qs(f)}` : ""}`);
          void load(f);
        }}
      >
        <label>
          Registry
          <select name="registry" defaultValue={filters.registry}>
            <option value="">all</option>
            {props.registries.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Name starts with
          <input name="prefix" defaultValue={filters.prefix} placeholder="library/" />
        </label>
        <div className="filter-buttons">
          <button type="submit" className="btn primary">
            Search
          </button>
        </div>
      </form>
      <FormStatus fb={fb} />
      {items.length === 0 && fb?.kind !== "pending" ? (
        <Empty title={filters.prefix || filters.registry ? "No repositories match" : "Nothing mirrored yet"}>
          <p>
            Repositories appear once a registry&apos;s round has synced them or a client pulled them on demand.{" "}
            {props.perms.operate ? <>Start a round with <Link href="/">Sync now</Link>.</> : null}
          </p>
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="repo-table">
            <thead>
              <tr>
                <th scope="col">Repository</th>
                <th scope="col">Registry</th>
                <th scope="col">Tags</th>
                <th scope="col">Size</th>
                <th scope="col">Last synced</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <tr key={`${r.registryName}/${r.repository}`}>
                  <td>
                    <Link href={repoHref(r.registryName, r.repository)}>{r.repository}</Link> {r.periodic ? null : <span className="pill muted" title="Not in periodic rounds: it came on demand (can be promoted on its page)">on demand</span>}
                  </td>
                  <td>{r.registryName}</td>
                  <td className="small">
                    {r.tags.slice(0, 6).map((t) => (
                      <span key={t.tag} className="chip">
                        {t.tag}
                      </span>
                    ))}
                    {r.tagCount > 6 ? <span className="muted"> +{r.tagCount - 6}</span> : null}
                  </td>
                  <td>{bytes(r.size)}</td>
                  <td>
                    <Time iso={r.lastSyncedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor ? (
        <button type="button" className="btn plain" onClick={() => void load(filters, cursor)}>
          Load more
        </button>
      ) : null}
    </>
  );
}
