/**
 * `Link`-header paging for catalog and tags lists. Registries get this wrong in creative ways, so
 * the iterator stops (without error) on a `next` link it has already followed or a page that
 * repeats the previous one, and fails with PAGING_LIMIT after `maxPages`, so a broken upstream can
 * never pin a worker in an endless loop. A list may also be capped by entries (`maxItems`: the
 * per-repository tag cap), checked page by page so a huge list is never held whole.
 */
import { OciError } from "./errors";
import type { IncomingHttpHeaders } from "node:http";
import type { OciRequest } from "./transport";

/** Fetches one page whole (retried as a unit, body included). */
export type FetchPage = (req: OciRequest) => Promise<{ headers: IncomingHttpHeaders; bytes: Buffer }>;

/** The `rel="next"` target of a Link header, if any. */
export function parseNextLink(link: string | string[] | undefined): string | undefined {
  if (!link) return undefined;
  for (const value of Array.isArray(link) ? link : [link]) {
    for (const part of value.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>(.*)$/.exec(part);
      if (m && /;\s*rel="?([^";]*\s)?next(\s[^";]*)?"?/i.test(m[2] ?? "")) return m[1];
    }
  }
  return undefined;
}

export interface PageRequest {
  first: URL;
  key: "repositories" | "tags";
  scope: string;
  what: string;
  maxPages: number;
  /** Fail with TOO_MANY_TAGS once the pages so far hold more than this many names. */
  maxItems?: number;
  signal?: AbortSignal;
}

/** Yields each page's list (possibly empty) until the registry stops giving a next link. */
export async function* pages(fetchPage: FetchPage, p: PageRequest): AsyncGenerator<string[]> {
  const followed = new Set<string>([p.first.href]);
  let url = p.first;
  let previous: string | undefined;
  let total = 0;
  for (let n = 0; ; n++) {
    if (n >= p.maxPages) {
      throw new OciError("PAGING_LIMIT", `${p.what}: stopped after ${p.maxPages} pages; raise maxPages if the registry really is that large`);
    }
    const req: OciRequest = { url, method: "GET", headers: { accept: "application/json" }, scope: p.scope, what: p.what, ...(p.signal ? { signal: p.signal } : {}) };
    const res = await fetchPage(req);
    const text = res.bytes.toString("utf8");
    let items: string[];
    try {
      const body = JSON.parse(text) as Record<string, unknown>;
      const list = body[p.key];
      // Some registries send `"tags": null` for a repository without tags.
      items = list === null || list === undefined ? [] : (list as string[]);
      if (!Array.isArray(items) || !items.every((x) => typeof x === "string")) throw new Error("not a string list");
    } catch {
      throw new OciError("INVALID_RESPONSE", `${p.what}: page ${n + 1} is not a valid ${p.key} list`);
    }
    const fingerprint = JSON.stringify(items);
    if (items.length > 0 && fingerprint === previous) return; // the same page again: a loop
    previous = fingerprint;
    total += items.length;
    if (p.maxItems !== undefined && total > p.maxItems) {
      throw new OciError("TOO_MANY_TAGS", `${p.what}: more than ${p.maxItems} entries (stopped after page ${n + 1}); raise maxTagsPerRepo if this repository really has that many tags`);
    }
    yield items;
    const next = parseNextLink(res.headers.link);
    if (!next) return;
    let nextUrl: URL;
    try {
      nextUrl = new URL(next, url);
    } catch {
      throw new OciError("INVALID_RESPONSE", `${p.what}: invalid Link header`);
    }
    if (nextUrl.origin !== p.first.origin) {
      throw new OciError("INVALID_RESPONSE", `${p.what}: Link header points to another host`);
    }
    if (followed.has(nextUrl.href)) return;
    followed.add(nextUrl.href);
    url = nextUrl;
  }
}
