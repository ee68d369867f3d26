/**
 * Validation of everything a caller can put into a store path: repository names, tags, digests.
 * These checks are the first of two fences against path traversal (the second is the
 * symlink-aware path resolution in layout.ts): a name that passes here contains only
 * `[a-z0-9._-/]`, never starts a component with `.` or `_`, and has no empty components, so it
 * cannot spell `..`, an absolute path, a NUL byte, or the store's own `_oci` folder.
 */
import { AppError } from "../errors";

// The OCI distribution spec's name grammar, one path component.
const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const REPO_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

/** The distribution spec lets registries cap names; 255 is what Docker Hub and zot accept. */
export const MAX_REPO_NAME_LENGTH = 255;

const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Digest algorithms the store accepts, with the length of their hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** True when `name` is a valid repository name (grammar and length). */
export function isValidRepoName(name: string): boolean {
  return typeof name === "string" && name.length > 0 && name.length <= MAX_REPO_NAME_LENGTH && REPO_RE.test(name);
}

/** Throws BAD_USER_INPUT unless `name` is a valid repository name. */
export function assertRepoName(name: string): void {
  if (!isValidRepoName(name)) {
    throw new AppError("BAD_USER_INPUT", "invalid repository name", {
      details: { repository: printable(name), rule: "OCI distribution name grammar, at most 255 characters" },
    });
  }
}

export function isValidTag(tag: string): boolean {
  return typeof tag === "string" && TAG_RE.test(tag);
}

/** Throws BAD_USER_INPUT unless `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
export function assertTag(tag: string): void {
  if (!isValidTag(tag)) {
    throw new AppError("BAD_USER_INPUT", "invalid tag", { details: { tag: printable(tag) } });
  }
}

export function isDigest(value: string): boolean {
  return typeof value === "string" && DIGEST_RE.test(value);
}

/** Splits a digest into algorithm and hex; throws BAD_USER_INPUT when it is not one we store. */
export function parseDigest(digest: string): ParsedDigest {
  if (!isDigest(digest)) {
    throw new AppError("BAD_USER_INPUT", "invalid digest", {
      details: { digest: printable(digest), rule: "sha256:<64 hex> or sha512:<128 hex>" },
    });
  }
  const i = digest.indexOf(":");
  return { algorithm: digest.slice(0, i) as DigestAlgorithm, hex: digest.slice(i + 1) };
}

/** Error details must stay printable and short even when the input was hostile. */
function printable(value: unknown): string {
  const s = typeof value === "string" ? value : String(value);
  return JSON.stringify(s.length > 300 ? `${s.slice(0, 300)}…` : s);
}
