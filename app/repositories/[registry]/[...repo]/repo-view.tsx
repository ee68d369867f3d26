"use client";
import Link from "next/link";
import { useEffect, useState } from "react";
import { ActionButton, CopyButton, Pill, Time } from "../../../_components/ui";
import { api } from "../../../_lib/api";
import { bytes, shortDigest } from "../../../_lib/format";
import type { Perms, RepoDetail, Task } from "../../../_lib/types";

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
      <div className="table-wrap">
        <table className="table" data-testid="tag-table">
          <thead>
            <tr>
              <th scope="col">Tag</th>
              <th scope="col">Digest</th>
              <th scope="col">Size</th>
              <th scope="col">Platforms</th>
              <th scope="col">Referrers</th>
              <th scope="col">Synced</th>
              <th scope="col">Pull</th>
              {perms.operate ? <th scope="col">Delete</th> : null}
            </tr>
          </thead>
          <tbody>
            {d.tags.map((t) => {
              const cmd = `docker pull ${host}/${d.repository}:${t.tag}`;
              const gone = deleted.has(t.tag);
              return (
                <tr key={t.tag} className={gone ? "muted" : undefined}>
                  <td>
                    <code>{t.tag}</code> {gone ? <Pill value="deleted" /> : t.status !== "synced" ? <Pill value={t.status} /> : null}
                    {t.errorCode ? <div className="error-text small">{t.errorCode}{t.errorMessage ? `: ${t.errorMessage}` : ""}</div> : null}
                  </td>
                  <td>
                    <code title={t.digest ?? undefined}>{shortDigest(t.digest)}</code>
                    {t.digest ? <CopyButton text={t.digest} label="Copy digest" /> : null}
                    {t.upstreamDigest && t.upstreamDigest !== t.digest ? <div className="small muted">upstream {shortDigest(t.upstreamDigest)}</div> : null}
                  </td>
                  <td>{bytes(t.size)}</td>
                  <td className="small">{t.platforms.length ? t.platforms.join(", ") : "—"}</td>
                  <td className="small">
                    {t.referrers.length === 0
                      ? "—"
                      : t.referrers.map((r) => (
                          <div key={r.digest}>
                            {KIND[r.artifactType ?? ""] ?? r.artifactType ?? r.mediaType} <code title={r.digest}>{shortDigest(r.digest)}</code> {bytes(r.size)}
                          </div>
                        ))}
                  </td>
                  <td>
                    <Time iso={t.lastSyncedAt} />
                  </td>
                  <td className="pull">
                    <code data-testid="pull-command">{cmd}</code>
                    <CopyButton text={cmd} label="Copy pull command" />
                  </td>
                  {perms.operate ? (
                    <td>
                      <ActionButton
                        label="Delete tag"
                        variant="danger"
                        testId={`delete-tag-${t.tag}`}
                        disabled={gone}
                        confirm={`Delete ${d.repository}:${t.tag} from the mirror? Pulls of it fail until a sync copies it again (the next round does, while a content rule selects it).`}
                        run={async () => {
                          await api<DeletedTag>("DELETE", `/repositories/${encodeURIComponent(d.repository)}/tags/${encodeURIComponent(t.tag)}`);
                          setDeleted((s) => new Set([...s, t.tag]));
                          return "Deleted";
                        }}
                      />
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}
