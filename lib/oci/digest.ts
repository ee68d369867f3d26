/** Digest computation shared by manifests and blobs. */
import { createHash, type Hash } from "node:crypto";
import { parseDigest } from "./reference";

/** A hasher for the algorithm of `digest` (which must be valid). */
export function hasherFor(digest: string): { hash: Hash; algorithm: string } {
  const { algorithm } = parseDigest(digest);
  return { hash: createHash(algorithm), algorithm };
}

/** `algorithm:hex` of `bytes`. */
export function computeDigest(bytes: Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}
