/**
 * Referrers (signatures, SBOMs, attestations) of an image: found through the OCI referrers API or
 * its `sha256-<hex>` tag fallback (lib/oci decides), plus cosign's legacy `sha256-<hex>.sig/.att/
 * .sbom` tags when enabled. Referrers are stored untagged (the store answers the referrers API from
 * their `subject`); cosign tags are stored as tags, as cosign expects to find them.
 *
 * Periodic sync is recursive (a signature of an SBOM of an image) with a visited set: the
 * tag-schema fallback is a mutable tag, so a hostile or broken upstream can make referrer indexes
 * point at each other, and the walk must still end. Depth is capped as well.
 *
 * Periodic sync passes the repository's tag list (`knownTags`, listed at the start of the
 * repository): fallback and cosign tags are then looked up only when they are listed, instead of
 * four requests per image that almost always answer 404. A signature pushed after the listing is
 * found in the next round, like any tag pushed after the listing.
 */
import type { AppError } from "../errors";
import { cosignTag, cosignTags, isOciError, type Descriptor, type RegistryClient } from "../oci";
import { copyTree, type CopyCounters, type CopyEnv } from "./copy-image";
import type { SyncContext, TagOutcome } from "./service-types";

/** Artifact types that count as a signature for `onlySigned`. */
export const SIGNATURE_ARTIFACT_TYPES: readonly string[] = [
  "application/vnd.dev.cosign.artifact.sig.v1+json",
  "application/vnd.dev.cosign.simplesigning.v1+json",
  "application/vnd.dev.sigstore.bundle.v0.3+json",
  "application/vnd.dev.sigstore.bundle+json;version=0.3",
  "application/vnd.cncf.notary.signature",
];

const MAX_DEPTH = 8;

function isNotFound(err: unknown): boolean {
  return isOciError(err) && (err.code === "MANIFEST_UNKNOWN" || err.code === "NOT_FOUND" || err.code === "NAME_UNKNOWN");
}

/**
 * Whether `digest` has a cosign or notation signature upstream: cosign's legacy `.sig` tag (one
 * HEAD), else a referrer whose artifactType is a signature type.
 */
export async function isSigned(client: RegistryClient, repo: string, digest: string, signal: AbortSignal): Promise<boolean> {
  try {
    await client.headManifest(repo, cosignTag(digest, "sig"), { signal });
    return true;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const { descriptors } = await client.referrers(repo, digest, { signal });
  return descriptors.some((d) => d.artifactType !== undefined && SIGNATURE_ARTIFACT_TYPES.includes(d.artifactType));
}

export interface ReferrerJob {
  env: CopyEnv;
  client: RegistryClient;
  upstreamRepo: string;
  localRepo: string;
  ctx: SyncContext;
  counters: CopyCounters;
  /** Only these artifact types (empty: all). */
  artifactTypes: readonly string[];
  legacyCosignTags: boolean;
  recursive: boolean;
  /** The repository's tags, listed just before; undefined: ask the registry for each tag. */
  knownTags?: ReadonlySet<string>;
}

/**
 * Copies the referrers of `subject` that the local repository lacks, and (when enabled) its cosign
 * tags that moved. One staging area and one commit per subject. Returns one outcome per copied
 * manifest (`tag` is the cosign tag, or the referrer's digest).
 */
export async function syncReferrersOf(job: ReferrerJob, subject: string, visited: Set<string> = new Set(), depth = 0): Promise<TagOutcome[]> {
  if (visited.has(subject) || depth > MAX_DEPTH) return [];
  visited.add(subject);
  job.ctx.signal.throwIfAborted();
  const { client, upstreamRepo, localRepo, env, ctx } = job;
  const only = job.artifactTypes.length === 1 ? { artifactType: job.artifactTypes[0]! } : {};
  const known = job.knownTags ? { knownTags: job.knownTags } : {};
  // The referrers lookup and the cosign tag HEADs are independent: one round trip, not four.
  const [{ descriptors }, legacy] = await Promise.all([
    client.referrers(upstreamRepo, subject, { signal: ctx.signal, ...only, ...known }),
    job.legacyCosignTags && job.artifactTypes.length === 0 ? movedCosignTags(job, subject) : [],
  ]);
  const wanted = descriptors.filter((d) => job.artifactTypes.length === 0 || job.artifactTypes.includes(d.artifactType ?? ""));

  const toCopy: Descriptor[] = [];
  const next: string[] = [];
  for (const d of wanted) {
    if (visited.has(d.digest) || next.includes(d.digest)) continue;
    next.push(d.digest);
    if (!(await hasManifest(env, localRepo, d.digest))) toCopy.push(d);
  }

  const outcomes: TagOutcome[] = [];
  if (toCopy.length > 0 || legacy.length > 0) {
    const staging = await env.store.stage(localRepo);
    try {
      const copyJob = { env, client, upstreamRepo, localRepo, staging, ctx, counters: job.counters };
      for (const d of toCopy) {
        const m = await client.getManifest(upstreamRepo, d.digest, { signal: ctx.signal });
        const copied = await copyTree(copyJob, m);
        outcomes.push({ tag: d.digest, status: "synced", digest: copied.digest, bytes: copied.treeBytes });
      }
      for (const l of legacy) {
        const m = await client.getManifest(upstreamRepo, l.digest, { signal: ctx.signal });
        const copied = await copyTree(copyJob, m);
        staging.tag(l.tag, copied.digest);
        outcomes.push({ tag: l.tag, status: "synced", digest: copied.digest, bytes: copied.treeBytes });
      }
      await env.store.commitAll(localRepo, staging);
    } catch (err) {
      await env.store.cleanupImage(staging).catch(() => undefined);
      throw err;
    }
    ctx.event?.("info", `copied ${outcomes.length} referrer(s) of ${subject}`, { repository: localRepo, subject });
  }
  if (job.recursive) {
    for (const d of next) outcomes.push(...(await syncReferrersOf(job, d, visited, depth + 1)));
  }
  return outcomes;
}

/** cosign tags of `subject` that exist upstream and differ from the local repository's. */
async function movedCosignTags(job: ReferrerJob, subject: string): Promise<Array<{ tag: string; digest: string }>> {
  const { client, upstreamRepo, localRepo, env, ctx } = job;
  const tags = cosignTags(subject).filter((t) => !job.knownTags || job.knownTags.has(t));
  const found = await Promise.all(
    tags.map(async (tag) => {
      try {
        const { digest } = await client.headManifest(upstreamRepo, tag, { signal: ctx.signal });
        return (await env.store.canSkipImage(localRepo, tag, digest)) ? null : { tag, digest };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    }),
  );
  return found.filter((x): x is { tag: string; digest: string } => x !== null);
}

async function hasManifest(env: CopyEnv, repo: string, digest: string): Promise<boolean> {
  try {
    await env.store.getManifest(repo, digest);
    return true;
  } catch (err) {
    if ((err as AppError).code === "NOT_FOUND") return false;
    throw err;
  }
}
