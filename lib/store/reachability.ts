/**
 * What a repository's index.json keeps alive: its root manifests, their config and layers, and
 * recursively the children of index manifests. A referrer's `subject` is not followed — a
 * signature does not keep its image alive; the image's own tag or root entry does.
 */
import type { StoreContext } from "./context";
import { isNonDistributable, requiredBlobs } from "./manifest";
import type { OciIndex } from "./oci-index";
import { readRepoManifest } from "./reads";

export interface Reachability {
  /** Every digest the repository must hold. */
  reachable: Set<string>;
  /** Referenced manifests that are absent or unreadable, with who referenced them. */
  missingManifests: Array<{ digest: string; referencedBy: string }>;
  /** Referenced blobs (config, layers); whether they exist is the caller's check. */
  blobRefs: Array<{ digest: string; referencedBy: string }>;
}

export async function reachableFrom(ctx: StoreContext, repo: string, index: OciIndex): Promise<Reachability> {
  const reachable = new Set<string>();
  const missingManifests: Reachability["missingManifests"] = [];
  const blobRefs: Reachability["blobRefs"] = [];
  const queue: Array<{ digest: string; mediaType: string; referencedBy: string }> = index.manifests.map((d) => ({
    digest: d.digest,
    mediaType: d.mediaType,
    referencedBy: "index.json",
  }));
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
    if (reachable.has(item.digest)) continue;
    reachable.add(item.digest);
    let found;
    try {
      found = await readRepoManifest(ctx, repo, item.digest);
    } catch {
      found = null; // corrupt: verify reports it; gc treats it as unreadable
    }
    if (found === null) {
      missingManifests.push({ digest: item.digest, referencedBy: item.referencedBy });
      continue;
    }
    for (const d of requiredBlobs(found.parsed)) {
      reachable.add(d.digest);
      blobRefs.push({ digest: d.digest, referencedBy: item.digest });
    }
    // Non-distributable layers may still be present if a registry served them; keep them too.
    for (const d of found.parsed.layers) if (isNonDistributable(d)) reachable.add(d.digest);
    for (const d of found.parsed.manifests) {
      queue.push({ digest: d.digest, mediaType: d.mediaType, referencedBy: item.digest });
    }
  }
  return { reachable, missingManifests, blobRefs };
}
