/**
 * Tag names for content attached to an image by digest when the referrers API is missing:
 * cosign's `sha256-<hex>.sig/.att/.sbom` and the OCI referrers tag schema `sha256-<hex>`.
 */
import { parseDigest } from "./reference";

export type CosignKind = "sig" | "att" | "sbom";

/** The OCI 1.1 fallback tag that holds the referrers index of `digest`. */
export function referrersTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`;
}

/** cosign's tag for a signature, attestation or SBOM of `digest`. */
export function cosignTag(digest: string, kind: CosignKind): string {
  return `${referrersTag(digest)}.${kind}`;
}

/** The cosign tags for `digest`, all kinds. */
export function cosignTags(digest: string): string[] {
  return (["sig", "att", "sbom"] as const).map((k) => cosignTag(digest, k));
}

/** Recognises `sha256-<hex>[.sig|.att|.sbom]`; returns the subject digest and kind. */
export function parseAttachedTag(tag: string): { subject: string; kind: CosignKind | "referrers" } | undefined {
  const m = /^(sha256|sha512)-([a-f0-9]+)(?:\.(sig|att|sbom))?$/.exec(tag);
  if (!m) return undefined;
  const subject = `${m[1]}:${m[2]}`;
  try {
    parseDigest(subject);
  } catch {
    return undefined;
  }
  return { subject, kind: (m[3] as CosignKind | undefined) ?? "referrers" };
}
