/**
 * Image references by the distribution grammar (github.com/distribution/reference):
 * `[host[:port]/]name[:tag][@digest]`. Parsing happens before any request so a bad name costs
 * nothing upstream and gets an error that says which part is wrong.
 */
import { OciError } from "./errors";

/** Docker Hub's API host; `docker.io` and `index.docker.io` are aliases users type. */
export const DOCKER_HUB_REGISTRY = "registry-1.docker.io";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const MAX_NAME = 255;

/** Digest algorithms whose hex length we know and can verify. */
export const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** API host with port, Docker Hub normalised to `registry-1.docker.io`. */
  registry: string;
  /** Repository path, with `library/` added for single-component Docker Hub names. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** Throws NAME_INVALID unless `name` is a valid repository path. */
export function validateRepository(name: string): string {
  if (name.length === 0 || name.length > MAX_NAME) {
    throw new OciError("NAME_INVALID", `repository name must be 1-${MAX_NAME} characters, got ${name.length}`);
  }
  for (const part of name.split("/")) {
    if (!COMPONENT.test(part)) {
      throw new OciError(
        "NAME_INVALID",
        `invalid repository name ${JSON.stringify(name.slice(0, 100))}: each path component must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
  return name;
}

/** Throws TAG_INVALID unless `tag` matches `[\w][\w.-]{0,127}`. */
export function validateTag(tag: string): string {
  if (!TAG.test(tag)) {
    throw new OciError(
      "TAG_INVALID",
      `invalid tag ${JSON.stringify(tag.slice(0, 140))}: up to 128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`,
    );
  }
  return tag;
}

/** Splits and checks `algorithm:hex`; only sha256 and sha512 are accepted (they can be verified). */
export function parseDigest(digest: string): { algorithm: "sha256" | "sha512"; hex: string } {
  if (!DIGEST.test(digest)) {
    throw new OciError("DIGEST_INVALID", `invalid digest ${JSON.stringify(digest.slice(0, 160))}: expected algorithm:hex, e.g. sha256:<64 hex>`);
  }
  const idx = digest.indexOf(":");
  const algorithm = digest.slice(0, idx);
  const hex = digest.slice(idx + 1);
  const len = DIGEST_HEX_LENGTH[algorithm];
  if (len === undefined) {
    throw new OciError("UNSUPPORTED_DIGEST", `digest algorithm ${JSON.stringify(algorithm.slice(0, 20))} is not supported: use sha256 or sha512`);
  }
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciError("DIGEST_INVALID", `invalid ${algorithm} digest: expected ${len} lowercase hex characters`);
  }
  return { algorithm: algorithm as "sha256" | "sha512", hex };
}

/** Throws DIGEST_INVALID/UNSUPPORTED_DIGEST unless `digest` is a verifiable digest. */
export function validateDigest(digest: string): string {
  parseDigest(digest);
  return digest;
}

/** True when `ref` looks like a digest rather than a tag (it contains ":"). */
export function isDigest(ref: string): boolean {
  return ref.includes(":");
}

/** Checks a manifest reference (tag or digest) and says which it is. */
export function parseManifestRef(ref: string): { tag: string } | { digest: string } {
  return isDigest(ref) ? { digest: validateDigest(ref) } : { tag: validateTag(ref) };
}

function looksLikeDomain(first: string): boolean {
  return first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase();
}

function validateDomain(domain: string): void {
  const ipv6 = /^\[[0-9a-fA-F:.]+\](?::\d+)?$/;
  if (ipv6.test(domain)) return;
  const [host = "", port, extra] = domain.split(":");
  const portOk = port === undefined || (/^\d{1,5}$/.test(port) && Number(port) > 0 && Number(port) < 65536);
  if (extra !== undefined || !portOk || !host.split(".").every((l) => DOMAIN_LABEL.test(l))) {
    throw new OciError("REFERENCE_INVALID", `invalid registry host ${JSON.stringify(domain.slice(0, 100))}`);
  }
}

/** Maps Docker Hub aliases to the API host; other hosts are lowercased as typed. */
export function normaliseRegistryHost(host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(h) ? DOCKER_HUB_REGISTRY : h;
}

/**
 * Parses `[host[:port]/]name[:tag][@digest]`. With no host the default registry (Docker Hub
 * unless given) applies; a single-component Docker Hub name gets `library/`.
 */
export function parseReference(input: string, options: { defaultRegistry?: string } = {}): ImageReference {
  if (input.length === 0 || input.length > 1024 || /\s/.test(input)) {
    throw new OciError("REFERENCE_INVALID", `invalid image reference ${JSON.stringify(input.slice(0, 100))}`);
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = validateDigest(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = validateTag(rest.slice(lastColon + 1));
    rest = rest.slice(0, lastColon);
  }
  const slash = rest.indexOf("/");
  let registry = options.defaultRegistry ?? DOCKER_HUB_REGISTRY;
  let name = rest;
  if (slash >= 0 && looksLikeDomain(rest.slice(0, slash))) {
    const domain = rest.slice(0, slash);
    validateDomain(domain);
    registry = domain;
    name = rest.slice(slash + 1);
  }
  registry = normaliseRegistryHost(registry);
  if (registry === DOCKER_HUB_REGISTRY && !name.includes("/")) name = `library/${name}`;
  validateRepository(name);
  return { registry, repository: name, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Formats a reference back to `host/name[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}
