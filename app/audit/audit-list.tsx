"use client";
import { useState } from "react";
import { Empty, FormStatus, Pill, Time, type Feedback } from "../_components/ui";
import { api, errorMessage } from "../_lib/api";
import type { AuditRow, Page } from "../_lib/types";

export function AuditList({ initial }: { initial: Page<AuditRow> }) {
  const [items, setItems] = useState(initial.items);
  const [cursor, setCursor] = useState(initial.nextCursor);
  const [filters, setFilters] = useState({ actor: "", action: "" });
  const [fb, setFb] = useState<Feedback>(null);
  const load = async (f: { actor: string; action: string }, c?: string | null) => {
    setFb({ kind: "pending", text: "Loading…" });
    const p = new URLSearchParams();
    if (f.actor) p.set("actor", f.actor);
    if (f.action) p.set("action", f.action);
    if (c) p.set("cursor", c);
    try {
      const page = await api<Page<AuditRow>>("GET", `/audit?${p}`);
      setItems((l) => (c ? [...l, ...page.items] : page.items));
      setCursor(page.nextCursor);
      setFb(null);
    } catch (err) {
      setFb({ kind: "error", text: errorMessage(err) });
    }
  };
  return (
    <>
      <h1>Audit log</h1>
      <form
        className="filters"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          const d = new FormData(e.currentTarget);
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
        <div className="filter-buttons">
          <button type="submit" className="btn primary">
            Filter
          </button>
        </div>
      </form>
      <FormStatus fb={fb} />
      {items.length === 0 ? (
        <Empty title="No audit entries match" />
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id}>
                  <td>
                    <Time iso={e.at} />
                  </td>
                  <td>
                    {e.actor} <span className="small muted">via {e.via}</span>
                  </td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td className="small">{e.target ?? "—"}</td>
                  <td>
                    <Pill value={e.outcome} />
                    {e.errorCode ? <span className="small muted"> {e.errorCode}</span> : null}
                  </td>
                  <td className="small muted" title={e.userAgent ?? undefined}>
                    {e.ip ?? "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor ? (
        <button type="button" className="btn plain" onClick={() => void load(filters, cursor)}>
          Load older entries
        </button>
      ) : null}
    </>
  );
}
