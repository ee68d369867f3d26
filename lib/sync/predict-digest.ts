/**
 * Where a tree will land in the store, computed from manifests alone. This is the seed's
 * `GetOCIDigest`, extended to the platform filter. When `convertToOCI` or `platforms` rewrite a
 * manifest, the stored digest differs from the upstream one. Without a prediction, "unchanged"
 * could only be known from tag state, and an image whose tag state is missing or stale would be
 * copied again: every manifest fetched and every blob linked, plus a commit.
 *
 * Only manifests are read. A child is fetched only when it may be rewritten (a Docker manifest
 * under conversion, a nested index); other children keep their digests. The stored bytes come
 * from the same `finishImage`/`finishIndex` the copy uses, so prediction and copy agree by
 * construction.
 */
import type { FetchedManifest, RegistryClient } from "../oci";
import { finishImage, finishIndex, mayRewrite, selectChildren, type StoredRef, type TreeOptions } from "./copy-image";
import { mapLimit } from "../concurrency";

/** The seed's GetOCIDigest result. */
export interface OCIDigest {
  /** The digest the root will have in the store. */
  ociDigest: string;
  /** The root's digest upstream. */
  upstreamDigest: string;
  /** True when the stored root is a rewrite (conversion or platform filter), not upstream's bytes. */
  converted: boolean;
  /** The stored root's media type and size. */
  mediaType: string;
  size: number;
}

/**
 * Predicts where `root` lands. `fetch` reads a child manifest by digest (from upstream). Throws
 * like the copy would (NOT_FOUND when no child matches the platforms).
 */
export async function predictStoredDigest(root: FetchedManifest, opts: TreeOptions, fetch: (digest: string) => Promise<FetchedManifest>): Promise<OCIDigest> {
  const stored = await predict(root, opts, fetch, 0);
  return { ociDigest: stored.digest, upstreamDigest: root.digest, converted: stored.digest !== root.digest, mediaType: stored.mediaType, size: stored.size };
}

/** `GetOCIDigest(repo, reference)` on one client: one manifest GET for the root, more only for rewritten children. */
export async function getOCIDigest(
  client: RegistryClient,
  repo: string,
  reference: string,
  opts: TreeOptions & { signal?: AbortSignal },
): Promise<OCIDigest & { root: FetchedManifest; fetched: Map<string, FetchedManifest> }> {
  const call = opts.signal ? { signal: opts.signal } : {};
  const root = await client.getManifest(repo, reference, call);
  // Kept so that a copy following a changed prediction does not read the children again.
  const fetched = new Map<string, FetchedManifest>();
  const r = await predictStoredDigest(root, opts, async (digest) => {
    const m = await client.getManifest(repo, digest, call);
    fetched.set(digest, m);
    return m;
  });
  return { ...r, root, fetched };
}

async function predict(m: FetchedManifest, opts: TreeOptions, fetch: (digest: string) => Promise<FetchedManifest>, depth: number): Promise<StoredRef> {
  if (m.parsed.kind === "image") return finishImage(m, opts);
  if (depth > 8) return { digest: m.digest, mediaType: m.mediaType, size: m.size }; // the copy refuses it
  const children = selectChildren(m.parsed.index.manifests, opts.platforms);
  const results = await mapLimit(children, 4, async (d): Promise<StoredRef | null> => {
    if (!mayRewrite(d.mediaType, opts)) return { digest: d.digest, mediaType: d.mediaType, size: d.size };
    const child = await fetch(d.digest);
    try {
      return await predict(child, opts, fetch, depth + 1);
    } catch (err) {
      // A nested index without a matching platform is dropped, as copyChild does.
      if (child.parsed.kind === "index" && opts.platforms && (err as { code?: unknown }).code === "NOT_FOUND") return null;
      throw err;
    }
  });
  const out = finishIndex(m, children, results, opts);
  return { digest: out.digest, mediaType: out.mediaType, size: out.size };
}
