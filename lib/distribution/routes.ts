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

export function parseV2Path(pathname: string): V2Route {
  if (pathname === "/v2" || pathname === "/v2/") return { kind: "base" };
  if (!pathname.startsWith("/v2/")) return { kind: "unknown" };
  const rest = pathname.slice(4);
  if (rest === "_catalog") return { kind: "catalog" };
  let m = /^(.+)\/tags\/list$/.exec(rest);
  if (m) return { kind: "tags", name: m[1]! };
  m = /^(.+)\/manifests\/([^/]+)$/.exec(rest);
  if (m) return { kind: "manifest", name: m[1]!, reference: decodeURIComponent(m[2]!) };
  m = /^(.+)\/blobs\/uploads(\/.*)?$/.exec(rest);
  if (m) return { kind: "upload", name: m[1]! };
  m = /^(.+)\/blobs\/([^/]+)$/.exec(rest);
  if (m) return { kind: "blob", name: m[1]!, digest: decodeURIComponent(m[2]!) };
  m = /^(.+)\/referrers\/([^/]+)$/.exec(rest);
  if (m) return { kind: "referrers", name: m[1]!, digest: decodeURIComponent(m[2]!) };
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
