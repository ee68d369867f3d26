/**
 * Parses `/v2/...` paths. Repository names contain slashes, so the route is found by its last
 * fixed segment (`/manifests/`, `/blobs/`, `/tags/list`, `/referrers/`), as the distribution
 * spec's grammar implies; the name is whatever precedes it and is validated by the store.
 */
export type V2Route =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "tags"; name: string }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "referrers"; name: string; digest: string }
  | { kind: "upload"; name: string }
  | { kind: "unknown" };

/**
 * True when a raw request path has a `.` or `..` segment, literal or percent-encoded. URL parsing
 * would resolve them (`/v2/a/%2e%2e/b/...` becomes `/v2/b/...`), serving a name the client never
 * sent; distribution refuses such names, and so does Ferry (NAME_INVALID).
 */
export function hasDotSegment(rawPath: string): boolean {
  // Backslashes count as separators: the URL parser turns them into slashes for http URLs.
  return /(?:^|[\/\\])(?:\.|%2e){1,2}(?:[\/\\]|$)/i.test(rawPath.split("?")[0]!);
}

/** decodeURIComponent that leaves a malformed escape as it is (then refused by validation). */
function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parseV2Path(pathname: string): V2Route {
  if (pathname === "/v2" || pathname === "/v2/") return { kind: "base" };
  if (!pathname.startsWith("/v2/")) return { kind: "unknown" };
  const rest = pathname.slice(4);
  if (rest === "_catalog") return { kind: "catalog" };
  let m = /^(.+)\/tags\/list$/.exec(rest);
  if (m) return { kind: "tags", name: m[1]! };
  m = /^(.+)\/manifests\/([^/]+)$/.exec(rest);
  if (m) return { kind: "manifest", name: m[1]!, reference: decode(m[2]!) };
  m = /^(.+)\/blobs\/uploads(\/.*)?$/.exec(rest);
  if (m) return { kind: "upload", name: m[1]! };
  m = /^(.+)\/blobs\/([^/]+)$/.exec(rest);
  if (m) return { kind: "blob", name: m[1]!, digest: decode(m[2]!) };
  m = /^(.+)\/referrers\/([^/]+)$/.exec(rest);
  if (m) return { kind: "referrers", name: m[1]!, digest: decode(m[2]!) };
  return { kind: "unknown" };
}

/** `Range: bytes=a-b` (one range; multipart ranges are not served). Null when absent or unusable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}
