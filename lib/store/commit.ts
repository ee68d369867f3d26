/**
 * commitAll: makes a staged image visible in its repository.
 *
 * Order matters for readers and for crashes. Blobs are linked first, then manifests children
 * before parents, then index.json is replaced. A reader that finds a tag in index.json therefore
 * finds everything it refers to; a crash before the index write leaves only unreferenced links,
 * which gc removes. The whole sequence runs under the repository's cross-process lock, and the
 * index is re-read inside the lock (read-modify-write), so two processes committing different
 * tags to one repository both keep their tag.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "../errors";
import { fsyncDir, replaceFileAtomic } from "./atomic-write";
import type { StoreContext } from "./context";
import { isCode } from "./layout";
import { linkAllPreferPool, linkPreferPool } from "./links";
import { withLock } from "./lock";
import { requiredBlobs, type Descriptor } from "./manifest";
import { applyChange, emptyIndex, readIndexFile, serializeIndex } from "./oci-index";
import { readRepoManifest, statBlob } from "./reads";
import type { FsStaging, StagedManifest } from "./staging";
import type { CommitResult } from "./types";

const OCI_LAYOUT = Buffer.from(`${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);

export async function commitStaging(ctx: StoreContext, repo: string, staging: FsStaging): Promise<CommitResult> {
  if (staging.repo !== repo) {
    throw new AppError("BAD_USER_INPUT", "staging area belongs to another repository", {
      details: { repository: repo, staged: staging.repo },
    });
  }
  staging.assertOpen();
  staging.committing = true;
  try {
    const result = await commitLocked(ctx, repo, staging);
    await staging.discard();
    return result;
  } finally {
    staging.committing = false;
  }
}

async function commitLocked(ctx: StoreContext, repo: string, staging: FsStaging): Promise<CommitResult> {
  const ordered = childrenFirst(staging.manifests);
  const { layout, durability } = ctx;
  return withLock(
    layout.repoLockPath(repo),
    async () => {
      const { oci, walked } = await layout.ensureRepoDirs(repo, "sha256", durability);
      for (const alg of staging.algorithms) {
        if (alg !== "sha256") await layout.ensureRepoDirs(repo, alg, durability);
      }
      // Looked for only when the folders were (re)checked: once written it is never removed, and
      // it is a marker for other tools, not something Ferry reads.
      if (walked && !(await fileExists(join(oci, "oci-layout")))) {
        await replaceFileAtomic(layout.tmpDir, join(oci, "oci-layout"), OCI_LAYOUT, durability);
      }

      // Checked inside the lock: what the repository already holds cannot change meanwhile.
      await assertComplete(ctx, repo, staging);
      const tagged = await tagDescriptors(ctx, repo, staging);

      const names = (digest: string): [string, string, string] => [layout.poolPath(digest), staging.path(digest), layout.repoBlobPath(repo, digest)];
      await linkAllPreferPool([...staging.blobs.keys()].map(names));
      for (const m of ordered) await linkPreferPool(...names(m.digest));
      if (durability.fsync) {
        // Together, not one after the other: concurrent fsyncs on one filesystem can share a
        // journal commit, and all of them must be done before index.json names the content.
        const algs = [...new Set(["sha256", ...staging.algorithms])];
        await Promise.all([
          ...algs.map((alg) => fsyncDir(join(oci, "blobs", alg))),
          ...algs.map((alg) => fsyncDir(join(layout.poolDir, alg)).catch(() => undefined)),
        ]);
      }

      const indexPath = join(oci, "index.json");
      const index = (await readIndexFile(indexPath)) ?? emptyIndex();
      const next = applyChange(index, { tags: tagged, roots: untaggedRoots(staging) });
      await replaceFileAtomic(layout.tmpDir, indexPath, serializeIndex(next), durability);
      return { repo, tags: [...tagged.keys()], manifests: staging.manifests.size, blobs: staging.blobs.size };
    },
    ctx.lock,
  );
}

/** Every manifest's config, layers and children must be staged or already in the repository. */
async function assertComplete(ctx: StoreContext, repo: string, staging: FsStaging): Promise<void> {
  const missing: Array<{ digest: string; neededBy: string }> = [];
  for (const m of staging.manifests.values()) {
    for (const d of [...requiredBlobs(m.parsed), ...m.parsed.manifests]) {
      if (staging.blobs.has(d.digest) || staging.manifests.has(d.digest)) continue;
      if ((await statBlob(ctx, repo, d.digest)) === null) missing.push({ digest: d.digest, neededBy: m.digest });
    }
  }
  if (missing.length > 0) {
    throw new AppError("BAD_USER_INPUT", "image is incomplete: referenced content was not staged", {
      details: { repository: repo, missing: missing.slice(0, 20) },
    });
  }
}

/** The index descriptor for each staged tag; a tag may also name a manifest the repo already has. */
async function tagDescriptors(ctx: StoreContext, repo: string, staging: FsStaging): Promise<Map<string, Descriptor>> {
  const out = new Map<string, Descriptor>();
  for (const [tag, digest] of staging.tags) {
    const staged = staging.manifests.get(digest);
    if (staged !== undefined) {
      out.set(tag, rootDescriptor(staged));
      continue;
    }
    const found = await readRepoManifest(ctx, repo, digest);
    if (found === null) {
      throw new AppError("BAD_USER_INPUT", "tag points at a manifest that is neither staged nor stored", {
        details: { repository: repo, tag, digest },
      });
    }
    out.set(tag, { mediaType: found.parsed.mediaType, digest, size: found.bytes.byteLength });
  }
  return out;
}

/** Staged manifests no other staged manifest lists as a child: referrers, images staged by digest. */
function untaggedRoots(staging: FsStaging): Descriptor[] {
  const children = new Set<string>();
  for (const m of staging.manifests.values()) for (const d of m.parsed.manifests) children.add(d.digest);
  return [...staging.manifests.values()].filter((m) => !children.has(m.digest)).map(rootDescriptor);
}

function rootDescriptor(m: StagedManifest): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size };
  if (m.parsed.artifactType !== undefined) d.artifactType = m.parsed.artifactType;
  return d;
}

/** Post-order over index children, so a parent never becomes visible before its children. */
function childrenFirst(manifests: Map<string, StagedManifest>): StagedManifest[] {
  const out: StagedManifest[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (m: StagedManifest): void => {
    if (state.get(m.digest) !== undefined) return; // done, or a cycle (impossible with real digests)
    state.set(m.digest, "visiting");
    for (const d of m.parsed.manifests) {
      const child = manifests.get(d.digest);
      if (child !== undefined) visit(child);
    }
    state.set(m.digest, "done");
    out.push(m);
  };
  for (const m of manifests.values()) visit(m);
  return out;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    if (isCode(err, "ENOENT")) return false;
    throw err;
  }
}
