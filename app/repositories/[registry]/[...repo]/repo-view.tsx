"use client";
import Link from "next/link";
import { useEffect, useState } from "react";
import { DataTable, type Column } from "../../../_components/table";
import { ActionButton, CopyButton, Pill, Time } from "../../../_components/ui";
import { api } from "../../../_lib/api";
import { bytes, shortDigest } from "../../../_lib/format";
import type { Perms, RepoDetail, Task } from "../../../_lib/types";

type Tag = RepoDetail["tags"][number];

/** The repository page's data: lib/api repositoryDetail plus repositoryCoverage. */
export type RepoPageData = RepoDetail & { upstreamRepo: string | null; periodic: boolean; storeBytes: number | null };
type Promotion = { added: boolean; upstreamRepository: string; rule: { prefix?: string } };
type DeletedTag = { digest: string | null };

const KIND: Record<string, string> = {
  "application/vnd.dev.cosign.artifact.sig.v1+json": "cosign signature",
  "application/vnd.dev.sigstore.bundle.v0.3+json": "sigstore bundle",
  "application/vnd.cncf.notary.signature": "notary signature",
  "application/spdx+json": "SPDX SBOM",
  "application/vnd.cyclonedx+json": "CycloneDX SBOM",
  "application/vnd.in-toto+json": "in-toto attestation",
};

export function RepoView({ initial, perms }: { initial: RepoPageData; perms: Perms }) {
  const d = initial;
  const [periodic, setPeriodic] = useState(d.periodic);
  const [deleted, setDeleted] = useState<ReadonlySet<string>>(new Set());
  // The host clients pull from is the one this page is served on; known only in the browser.
  const [host, setHost] = useState("<ferry-host>");
  useEffect(() => setHost(window.location.host), []);
  const upstream = d.upstreamRepo ?? d.tags[0]?.upstreamRepo ?? d.repository;
  const pullCommand = (t: Tag) => `docker pull ${host}/${d.repository}:${t.tag}`;
  const columns: Array<Column<Tag>> = [
    {
      header: "Tag",
      cell: (t) => (
        <>
          <code>{t.tag}</code> {deleted.has(t.tag) ? <Pill value="deleted" /> : t.status !== "synced" ? <Pill value={t.status} /> : null}
          {t.errorCode ? <div className="error-text small">{t.errorCode}{t.errorMessage ? `: ${t.errorMessage}` : ""}</div> : null}
        </>
      ),
    },
    {
      header: "Digest",
      cell: (t) => (
        <>
          <code title={t.digest ?? undefined}>{shortDigest(t.digest)}</code>
          {t.digest ? <CopyButton text={t.digest} label="Copy digest" /> : null}
          {t.upstreamDigest && t.upstreamDigest !== t.digest ? <div className="small muted">upstream {shortDigest(t.upstreamDigest)}</div> : null}
        </>
      ),
    },
    { header: "Size", cell: (t) => bytes(t.size) },
    { header: "Platforms", className: "small", cell: (t) => (t.platforms.length ? t.platforms.join(", ") : "—") },
    {
      header: "Referrers",
      className: "small",
      cell: (t) =>
        t.referrers.length === 0
          ? "—"
          : t.referrers.map((r) => (
              <div key={r.digest}>
                {KIND[r.artifactType ?? ""] ?? r.artifactType ?? r.mediaType} <code title={r.digest}>{shortDigest(r.digest)}</code> {bytes(r.size)}
              </div>
            )),
    },
    { header: "Synced", cell: (t) => <Time iso={t.lastSyncedAt} /> },
    {
      header: "Pull",
      className: "pull",
      cell: (t) => (
        <>
          <code data-testid="pull-command">{pullCommand(t)}</code>
          <CopyButton text={pullCommand(t)} label="Copy pull command" />
        </>
      ),
    },
    {
      header: "Delete",
      hidden: !perms.operate,
      cell: (t) => (
        <ActionButton
          label="Delete tag"
          variant="danger"
          testId={`delete-tag-${t.tag}`}
          disabled={deleted.has(t.tag)}
          confirm={`Delete ${d.repository}:${t.tag} from the mirror? Pulls of it fail until a sync copies it again (the next round does, while a content rule selects it).`}
          run={async () => {
            await api<DeletedTag>("DELETE", `/repositories/${encodeURIComponent(d.repository)}/tags/${encodeURIComponent(t.tag)}`);
            setDeleted((s) => new Set([...s, t.tag]));
            return "Deleted";
          }}
        />
      ),
    },
  ];
  return (
    <>
      <p className="small">
        <Link href="/repositories">← Repositories</Link>
      </p>
      <h1>
        <code>{d.repository}</code>
      </h1>
      <p>
        From <strong>{d.registryName}</strong> ({d.upstreamUrls[0] ? <code>{d.upstreamUrls[0]}</code> : null} <code>{upstream}</code>) · {d.tags.length} tags · {bytes(d.size)}
        {d.storeBytes !== null ? <> ({bytes(d.storeBytes)} in the store)</> : null} · last synced <Time iso={d.lastSyncedAt} /> ·{" "}
        <span data-testid="repo-coverage">{periodic ? "synced by periodic rounds" : "on demand only"}</span>
      </p>
      {perms.operate ? (
        <div className="actions">
          {perms.admin && !d.periodic ? (
            <ActionButton
              label="Promote to periodic"
              testId="repo-promote"
              disabled={periodic}
              title="Add a content rule so periodic rounds sync every tag of this repository"
              run={async () => {
                const p = await api<Promotion>("POST", `/registries/${encodeURIComponent(d.registryName)}/promote`, { repository: d.repository });
                setPeriodic(true);
                return p.added ? `Promoted: rounds now sync ${p.upstreamRepository} (rule ${p.rule.prefix ?? ""})` : "Already synced by periodic rounds";
              }}
            />
          ) : null}
          <ActionButton
            label="Sync now"
            variant="primary"
            testId="repo-sync"
            run={async () => {
              const t = await api<Task>("POST", `/registries/${encodeURIComponent(d.registryName)}/repositories/sync`, { repository: upstream });
              return `Queued as task #${t.id}`;
            }}
          />
        </div>
      ) : null}
      <DataTable rows={d.tags} columns={columns} rowKey={(t) => t.tag} rowProps={(t) => ({ className: deleted.has(t.tag) ? "muted" : undefined })} testId="tag-table" />
    </>
  );
}
