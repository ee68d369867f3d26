"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { DataTable, type Column } from "../_components/table";
import { ActionButton, FieldError, FormStatus, Pill, type Feedback } from "../_components/ui";
import { api, ApiError, errorMessage, issuesByField } from "../_lib/api";
import type { Connection, Preview, Registry } from "../_lib/types";
import { credentialsProblem, EMPTY_RULE, extraConfig, fromConfig, NO_SECRETS, toInput, type Rule, type State, type StoredSecrets } from "./registry-model";
import { SecretFields } from "./secret-fields";
import { UrlHealthList } from "./url-health";

export function RegistryForm({ initial, secrets = NO_SECRETS }: { initial: Registry | null; secrets?: StoredSecrets }) {
  const editing = initial !== null;
  const router = useRouter();
  const [s, setS] = useState<State>(() => fromConfig(initial, secrets));
  const extra = useRef(extraConfig(initial));
  const [issues, setIssues] = useState<Record<string, string>>({});
  const [fb, setFb] = useState<Feedback>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewFb, setPreviewFb] = useState<Feedback>(null);
  const [conn, setConn] = useState<Connection | null>(null);
  // The version this form was filled from: a save is refused (412) if someone changed it since.
  const version = useRef(initial?.version ?? null);
  const set = <K extends keyof State>(k: K, v: State[K]) => setS((x) => ({ ...x, [k]: v }));
  const setRule = (i: number, patch: Partial<Rule>) => setS((x) => ({ ...x, rules: x.rules.map((r, j) => (j === i ? { ...r, ...patch } : r)) }));

  /** Issues for a field: its own key and anything under it (`urls` gets `urls[1]`). */
  const err = (key: string) => {
    const m = Object.entries(issues).filter(([k]) => k === key || k.startsWith(`${key}[`) || k.startsWith(`${key}.`)).map(([, v]) => v);
    return m.length ? m.join("; ") : undefined;
  };
  const fieldProps = (key: string) => ({ "aria-invalid": err(key) ? true : undefined, "aria-describedby": `err-${key.replace(/[^\w]/g, "_")}` });
  const FE = ({ k }: { k: string }) => <FieldError id={`err-${k.replace(/[^\w]/g, "_")}`} msg={err(k)} />;

  const input = () => toInput(s, extra.current, secrets);
  const check = async <T,>(path: string): Promise<T> => {
    try {
      const r = await api<T>("POST", path, { config: input(), ...(editing ? { existing: initial.name } : {}) });
      setIssues({});
      // The config is valid now: an earlier save error no longer applies.
      setFb((f) => (f?.kind === "error" ? null : f));
      return r;
    } catch (e) {
      setIssues(issuesByField(e));
      throw e;
    }
  };
  const runPreview = async () => {
    setPreviewFb({ kind: "pending", text: "Asking the upstream (catalog and tags)…" });
    try {
      const p = await check<Preview>("/registry-checks/preview");
      setPreview(p);
      setPreviewFb(p.connection.ok ? { kind: "ok", text: `${p.matched} of ${p.catalogSize}${p.catalogTruncated ? "+" : ""} repositories match the rules` } : { kind: "error", text: `Upstream: ${p.connection.errorMessage}` });
    } catch (e) {
      setPreviewFb({ kind: "error", text: errorMessage(e) });
    }
  };

  // Live preview: once a preview was asked for, it follows edits of the rules and urls.
  const rulesKey = JSON.stringify([s.rules, s.urls]);
  const previewed = preview !== null;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    if (!previewed) return;
    const t = setTimeout(() => void runPreview(), 1200);
    return () => clearTimeout(t);
  }, [rulesKey]);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const problem = credentialsProblem(s, secrets);
    if (problem) {
      setIssues({ credentials: problem });
      setFb({ kind: "error", text: problem });
      return;
    }
    setFb({ kind: "pending", text: editing ? "Saving…" : "Creating…" });
    try {
      const saved = editing
        ? await api<Registry>("PUT", `/registries/${encodeURIComponent(initial.name)}`, input(), version.current !== null ? { "if-match": `"${version.current}"` } : {})
        : await api<Registry>("POST", "/registries", input());
      version.current = saved.version;
      setIssues({});
      // Secrets went to the server; the form never keeps them (the page now says "set").
      setS((x) => ({ ...x, password: "", token: "", clientKey: "", removeClientKey: false }));
      setFb({ kind: "ok", text: editing ? "Saved" : `Registry ${saved.name} created` });
      if (!editing) router.push(`/registries/${encodeURIComponent(saved.name)}?created=1`);
      else router.refresh();
    } catch (e2) {
      setIssues(issuesByField(e2));
      const changed = e2 instanceof ApiError && e2.code === "PRECONDITION_FAILED";
      setFb({ kind: "error", text: changed ? "Someone else changed this registry since you opened it, so nothing was saved. Reload the page to see their change, then make yours again." : errorMessage(e2) });
    }
  };

  return (
    <>
      <p className="small">
        <Link href="/registries">← Registries</Link>
      </p>
      <h1>{editing ? `Registry ${initial.name}` : "Add a registry"}</h1>
      <form className="form wide" onSubmit={submit} noValidate aria-label={editing ? "Edit registry" : "New registry"}>
        <fieldset>
          <legend>Upstream</legend>
          <label>
            Name
            <input name="name" value={s.name} onChange={(e) => set("name", e.target.value)} disabled={editing} required placeholder="docker-hub" {...fieldProps("name")} />
            <FE k="name" />
          </label>
          <label>
            URLs <span className="muted small">(one per line; the first is the primary, the rest fail-over)</span>
            <textarea name="urls" rows={2} value={s.urls} onChange={(e) => set("urls", e.target.value)} placeholder="https://registry-1.docker.io" {...fieldProps("urls")} />
            <FE k="urls" />
          </label>
          {initial ? <UrlHealthList health={initial.urlHealth} /> : null}
          <div className="row">
            <label className="check">
              <input type="checkbox" checked={s.enabled} onChange={(e) => set("enabled", e.target.checked)} /> Enabled
            </label>
            <label className="check">
              <input type="checkbox" checked={s.onDemand} onChange={(e) => set("onDemand", e.target.checked)} /> Sync on demand (when a client pulls)
            </label>
          </div>
        </fieldset>
        <fieldset>
          <legend>Schedule and retries</legend>
          <div className="row">
            <label>
              Poll interval
              <input name="pollInterval" value={s.pollInterval} onChange={(e) => set("pollInterval", e.target.value)} placeholder="6h (empty: no periodic rounds)" {...fieldProps("pollInterval")} />
              <FE k="pollInterval" />
            </label>
            <label>
              Max retries
              <input name="maxRetries" inputMode="numeric" value={s.maxRetries} onChange={(e) => set("maxRetries", e.target.value)} placeholder="3" {...fieldProps("maxRetries")} />
              <FE k="maxRetries" />
            </label>
            <label>
              Retry delay
              <input name="retryDelay" value={s.retryDelay} onChange={(e) => set("retryDelay", e.target.value)} placeholder="1s" {...fieldProps("retryDelay")} />
              <FE k="retryDelay" />
            </label>
          </div>
          <div className="row">
            <label className="check">
              <input type="checkbox" checked={s.onlySigned} onChange={(e) => set("onlySigned", e.target.checked)} /> Only signed images
            </label>
            <label className="check">
              <input type="checkbox" checked={s.convertToOCI} onChange={(e) => set("convertToOCI", e.target.checked)} /> Convert Docker manifests to OCI
            </label>
          </div>
        </fieldset>
        <SecretFields s={s} set={set} secrets={secrets} fieldProps={fieldProps} FE={FE} />
        <fieldset>
          <legend>Content rules</legend>
          <p className="small muted">
            Which repositories and tags to mirror. No rules: everything, names unchanged. Prefix is a glob on the upstream name (<code>*</code> within a path segment,{" "}
            <code>**</code> across).
          </p>
          {s.rules.map((r, i) => (
            <div className="rule" key={i} role="group" aria-label={`Rule ${i + 1}`}>
              <div className="row">
                <label>
                  Prefix
                  <input value={r.prefix} onChange={(e) => setRule(i, { prefix: e.target.value })} placeholder="library/**" {...fieldProps(`content[${i}].prefix`)} />
                  <FE k={`content[${i}].prefix`} />
                </label>
                <label>
                  Destination
                  <input value={r.destination} onChange={(e) => setRule(i, { destination: e.target.value })} placeholder="(same name)" {...fieldProps(`content[${i}].destination`)} />
                  <FE k={`content[${i}].destination`} />
                </label>
                <label className="check">
                  <input type="checkbox" checked={r.stripPrefix} onChange={(e) => setRule(i, { stripPrefix: e.target.checked })} /> Strip prefix
                </label>
              </div>
              <FE k={`content[${i}].stripPrefix`} />
              <div className="row">
                <label>
                  Tags regex
                  <input value={r.regex} onChange={(e) => setRule(i, { regex: e.target.value })} placeholder="^v?\d" {...fieldProps(`content[${i}].tags.regex`)} />
                  <FE k={`content[${i}].tags.regex`} />
                </label>
                <label>
                  Exclude regex
                  <input value={r.excludeRegex} onChange={(e) => setRule(i, { excludeRegex: e.target.value })} placeholder="-rc" {...fieldProps(`content[${i}].tags.excludeRegex`)} />
                  <FE k={`content[${i}].tags.excludeRegex`} />
                </label>
                <label>
                  Semver
                  <input value={r.semver} onChange={(e) => setRule(i, { semver: e.target.value })} placeholder="true or >=1.2 <2" {...fieldProps(`content[${i}].tags.semver`)} />
                  <FE k={`content[${i}].tags.semver`} />
                </label>
                <label>
                  Keep newest
                  <input value={r.latest} inputMode="numeric" onChange={(e) => setRule(i, { latest: e.target.value })} placeholder="all" {...fieldProps(`content[${i}].tags.latest`)} />
                  <FE k={`content[${i}].tags.latest`} />
                </label>
                <label>
                  Platforms
                  <input value={r.platforms} onChange={(e) => setRule(i, { platforms: e.target.value })} placeholder="linux/amd64, linux/arm64" {...fieldProps(`content[${i}].platforms`)} />
                  <FE k={`content[${i}].platforms`} />
                </label>
              </div>
              <button type="button" className="btn plain small" onClick={() => setS((x) => ({ ...x, rules: x.rules.filter((_, j) => j !== i) }))}>
                Remove rule {i + 1}
              </button>
            </div>
          ))}
          <button type="button" className="btn plain" onClick={() => setS((x) => ({ ...x, rules: [...x.rules, { ...EMPTY_RULE }] }))}>
            Add rule
          </button>
        </fieldset>
        <div className="actions">
          <button type="submit" className="btn primary" disabled={fb?.kind === "pending"}>
            {editing ? "Save" : "Create registry"}
          </button>
          <ActionButton
            label="Test connection"
            run={async () => {
              const c = await check<Connection>("/registry-checks/connection");
              setConn(c);
              if (!c.ok) throw new Error(`${c.errorCode}: ${c.errorMessage}`);
              return `Connected to ${c.url} in ${c.latencyMs} ms (auth: ${c.auth})`;
            }}
          />
          <button type="button" className="btn plain" onClick={() => void runPreview()} aria-busy={previewFb?.kind === "pending"}>
            Preview rules (dry run)
          </button>
        </div>
        <FormStatus fb={fb} />
        {conn && !conn.ok ? <p className="small muted">Tried {conn.url} ({conn.latencyMs} ms).</p> : null}
      </form>
      <section className="card" aria-labelledby="preview-h" data-testid="preview">
        <h2 id="preview-h">What would be synced</h2>
        <FormStatus fb={previewFb} />
        {preview ? <PreviewTable p={preview} /> : <p className="muted small">Run a dry run to see which repositories and tags these rules select upstream. It then updates as you edit the rules.</p>}
      </section>
    </>
  );
}

type PreviewRepo = Preview["repositories"][number];

const PREVIEW_COLUMNS: Array<Column<PreviewRepo>> = [
  { header: "Upstream", cell: (r) => <code>{r.upstream}</code> },
  { header: "Lands as", cell: (r) => (r.local ? <code>{r.local}</code> : <Pill value="not mirrored" />) },
  {
    header: "Tags synced",
    cell: (r) => {
      const kept = r.tags.filter((t) => t.keep);
      return (
        <>
          {r.tagsError ? <span className="error-text small">{r.tagsError}</span> : null}
          {kept.map((t) => (
            <span key={t.tag} className="chip">
              {t.tag}
            </span>
          ))}
          {r.local && !r.tagsError && kept.length === 0 ? <span className="muted small">none</span> : null}
        </>
      );
    },
  },
  {
    header: "Left out",
    className: "small",
    cell: (r) => {
      const dropped = r.tags.filter((t) => !t.keep);
      if (!dropped.length) return "—";
      return (
        <details>
          <summary>{dropped.length} tags</summary>
          <ul>
            {dropped.map((t) => (
              <li key={t.tag}>
                <code>{t.tag}</code> {t.reason}
              </li>
            ))}
          </ul>
        </details>
      );
    },
  },
];

function PreviewTable({ p }: { p: Preview }) {
  if (!p.connection.ok) return null;
  return (
    <>
      <p className="small">
        Catalog: {p.catalogSize}
        {p.catalogTruncated ? "+ (truncated)" : ""} repositories, {p.matched} matched{p.moreMatched ? ` (first ${p.matched - p.moreMatched} shown with tags)` : ""}.
      </p>
      {p.notes.map((n) => (
        <p key={n} className="small muted">
          {n}
        </p>
      ))}
      <DataTable rows={p.repositories} columns={PREVIEW_COLUMNS} rowKey={(r) => r.upstream} rowProps={(r) => ({ className: r.local ? undefined : "dim" })} />
    </>
  );
}
