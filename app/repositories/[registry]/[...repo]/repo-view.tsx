"use client";
import Link from "next/link";
import { useEffect, useState } from "react";
import { ActionButton, CopyButton, Pill, Time } from "../../../_components/ui";
import { api } from "../../../_lib/api";
import { bytes, shortDigest } from "../../../_lib/format";
import type { Perms, RepoDetail, Task } from "../../../_lib/types";

const KIND: Record<string, string> = {
  "application/vnd.dev.cosign.artifact.sig.v1+json": "cosign signature",
  "application/vnd.dev.sigstore.bundle.v0.3+json": "sigstore bundle",
  "application/vnd.cncf.notary.signature": "notary signature",
  "application/spdx+json": "SPDX SBOM",
  "application/vnd.cyclonedx+json": "CycloneDX SBOM",
  "application/vnd.in-toto+json": "in-toto attestation",
};

export function RepoView({ initial, perms }: { initial: RepoDetail; perms: Perms }) {
  const d = initial;
  // The host clients pull from is the one this page is served on; known only in the browser.
  const [host, setHost] = useState("<ferry-host>");
  useEffect(() => setHost(window.location.host), []);
  const upstream = d.tags[0]?.upstreamRepo ?? d.repository;
  return (
    <>
      <p className="small">
        <Link href="/repositories">← Repositories</Link>
      </p>
      <h1>
        <code>{d.repository}</code>
      </h1>
      <p>
        From <strong>{d.registryName}</strong> ({d.upstreamUrls[0] ? <code>{d.upstreamUrls[0]}</code> : null} <code>{upstream}</code>) · {d.tags.length} tags · {bytes(d.size)} · last synced{" "}
        <Time iso={d.lastSyncedAt} />
      </p>
      {perms.operate ? (
        <div className="actions">
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
            </tr>
          </thead>
          <tbody>
            {d.tags.map((t) => {
              const cmd = `docker pull ${host}/${d.repository}:${t.tag}`;
              return (
                <tr key={t.tag}>
                  <td>
                    <code>{t.tag}</code> {t.status !== "synced" ? <Pill value={t.status} /> : null}
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
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}
