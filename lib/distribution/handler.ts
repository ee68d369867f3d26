/**
 * The OCI distribution pull API (`/v2/`) over Ferry's store, as a plain Node request handler.
 *
 * It runs in the custom server in front of Next.js rather than as a Next route handler: blobs are
 * piped from the file straight into the socket (no web-stream conversion, no framework per-request
 * work), paths with any number of slashes need no catch-all routing, and `/v2/` keeps its trailing
 * slash (Next would redirect it).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { observeV2Response, type FerryMetrics, type Logger } from "../observability";
import type { Store } from "../store";
import { toV2Error, V2Error, v2Body, type V2ErrorCode } from "./errors";
import type { PullAuth } from "./pull-auth";
import { hasDotSegment, parseRange, parseV2Path, type V2Route } from "./routes";

/** Fetches what the store lacks from an upstream (the sync engine's on-demand path). */
export interface OnDemandSource {
  /**
   * Makes `repo:reference` present in the store if an upstream registry maps this local name.
   * Resolves false when no registry does; throws (with the upstream's cause) when one does but
   * the image could not be fetched.
   */
  ensureImage(repo: string, reference: string): Promise<boolean>;
  /** Syncs referrers of `digest` before a referrers request is answered. */
  ensureReferrers?(repo: string, digest: string): Promise<void>;
  /**
   * A mirrored tag is about to be served: check upstream first when its check is due (the
   * registry's manifestCheckInterval). Never throws: when upstream fails, the cached image is
   * served (stale-on-error). Resolves true when it asked upstream (the tag may have moved, so
   * the store is read again), false when the check was not due.
   */
  refreshTag?(repo: string, tag: string): Promise<boolean>;
}

export interface V2HandlerOptions {
  store: Store;
  log: Logger;
  onDemand?: OnDemandSource;
  /** Requests, bytes served and on-demand hits/misses are counted here when given. */
  metrics?: FerryMetrics;
  /** When set, pulls need a token (see pull-auth.ts); `/v2/token` issues them. */
  pullAuth?: PullAuth;
}

const JSON_TYPE = "application/json";
const DEFAULT_PAGE = 100;
const MAX_PAGE = 10_000;

export function createV2Handler(options: V2HandlerOptions) {
  const { store, log } = options;

  return async function handleV2(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://ferry.invalid");
    const route = parseV2Path(url.pathname);
    if (options.metrics) observeV2Response(options.metrics, req, res, route.kind);
    res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    const method = req.method ?? "GET";
    let notFound: V2ErrorCode = "NAME_UNKNOWN";
    try {
      if (hasDotSegment(req.url ?? "/")) throw new V2Error(400, "NAME_INVALID", "repository names cannot contain '.' or '..' segments");
      if (options.pullAuth) {
        if (url.pathname === "/v2/token") {
          const token = await options.pullAuth.issue(req.headers).catch((err: unknown) => {
            throw (err as { code?: string }).code === "UNAUTHENTICATED" ? new V2Error(401, "UNAUTHORIZED", "wrong username, password or token") : err;
          });
          return sendJson(res, method, 200, JSON.stringify(token));
        }
        const repo = repoOf(route);
        const claims = options.pullAuth.verify(req.headers.authorization);
        if (!options.pullAuth.allows(claims, { repo, catalog: route.kind === "catalog" })) {
          if (claims) throw new V2Error(403, "DENIED", "this token may not pull from here");
          res.setHeader("WWW-Authenticate", options.pullAuth.challenge(req.headers, repo));
          throw new V2Error(401, "UNAUTHORIZED", "authentication required");
        }
      }
      if (route.kind === "upload" || (method !== "GET" && method !== "HEAD")) {
        throw new V2Error(405, "UNSUPPORTED", "Ferry is a read-only mirror: pushes and deletes are not accepted here");
      }
      switch (route.kind) {
        case "base":
          return sendJson(res, method, 200, "{}");
        case "catalog": {
          const page = pageOf(url);
          const repos = await store.listRepositories({ n: page.n + 1, ...(page.last ? { last: page.last } : {}) });
          const more = repos.length > page.n;
          const shown = repos.slice(0, page.n);
          if (more) setLink(res, "/v2/_catalog", page.n, shown[shown.length - 1]!);
          return sendJson(res, method, 200, JSON.stringify({ repositories: shown }));
        }
        case "tags": {
          const page = pageOf(url);
          const tags = await store.listTags(route.name, { n: page.n + 1, ...(page.last ? { last: page.last } : {}) });
          const more = tags.length > page.n;
          const shown = tags.slice(0, page.n);
          if (more) setLink(res, `/v2/${route.name}/tags/list`, page.n, shown[shown.length - 1]!);
          return sendJson(res, method, 200, JSON.stringify({ name: route.name, tags: shown }));
        }
        case "manifest": {
          notFound = "MANIFEST_UNKNOWN";
          const manifest = await getManifest(route.name, route.reference);
          const accept = acceptList(req.headers.accept);
          if (accept.length > 0 && !accept.includes(manifest.mediaType) && !accept.includes("*/*")) {
            throw new V2Error(404, "MANIFEST_UNKNOWN", `manifest is ${manifest.mediaType}, which the request does not accept`);
          }
          res.writeHead(200, {
            "Content-Type": manifest.mediaType,
            "Content-Length": String(manifest.size),
            "Docker-Content-Digest": manifest.digest,
            ETag: `"${manifest.digest}"`,
          });
          res.end(method === "HEAD" ? undefined : manifest.bytes);
          return;
        }
        case "blob": {
          notFound = "BLOB_UNKNOWN";
          const stat = await store.statBlob(route.name, route.digest);
          if (!stat) throw new V2Error(404, "BLOB_UNKNOWN", "blob unknown to this repository");
          const range = parseRange(req.headers.range, stat.size);
          if (range === "unsatisfiable") {
            res.writeHead(416, { "Content-Range": `bytes */${stat.size}` });
            res.end();
            return;
          }
          const headers: Record<string, string> = {
            "Content-Type": "application/octet-stream",
            "Docker-Content-Digest": route.digest,
            "Accept-Ranges": "bytes",
            ETag: `"${route.digest}"`,
          };
          if (range) {
            headers["Content-Range"] = `bytes ${range.start}-${range.end}/${stat.size}`;
            headers["Content-Length"] = String(range.end - range.start + 1);
          } else {
            headers["Content-Length"] = String(stat.size);
          }
          if (method === "HEAD") {
            res.writeHead(range ? 206 : 200, headers);
            res.end();
            return;
          }
          const body = await store.openBlob(route.name, route.digest, range ?? undefined);
          res.writeHead(range ? 206 : 200, headers);
          await pipeline(body, res).catch((err: unknown) => {
            // The client went away mid-blob; nothing to answer, nothing to log loudly.
            log.debug({ err, digest: route.digest }, "blob stream ended early");
          });
          return;
        }
        case "referrers": {
          notFound = "MANIFEST_UNKNOWN";
          await options.onDemand?.ensureReferrers?.(route.name, route.digest).catch((err: unknown) => {
            log.warn({ err, repo: route.name, digest: route.digest }, "referrers sync failed; answering from the store");
          });
          const artifactType = url.searchParams.get("artifactType") ?? undefined;
          const descriptors = await store.referrers(route.name, route.digest, artifactType ? { artifactType } : {}).catch((err: unknown) => {
            // An unknown repository or subject has no referrers: the spec wants an empty index.
            if ((err as { code?: string }).code === "NOT_FOUND") return [];
            throw err;
          });
          if (artifactType) res.setHeader("OCI-Filters-Applied", "artifactType");
          const body = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: descriptors });
          res.writeHead(200, { "Content-Type": "application/vnd.oci.image.index.v1+json", "Content-Length": String(Buffer.byteLength(body)) });
          res.end(method === "HEAD" ? undefined : body);
          return;
        }
        default:
          throw new V2Error(404, "NAME_UNKNOWN", "no such endpoint");
      }
    } catch (err) {
      const e = toV2Error(err, notFound);
      if (e.status >= 500) log.error({ err, path: url.pathname }, "v2 request failed");
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = v2Body(e);
      res.writeHead(e.status, { "Content-Type": JSON_TYPE, "Content-Length": String(Buffer.byteLength(body)) });
      res.end(method === "HEAD" ? undefined : body);
    }
  };

  async function getManifest(repo: string, reference: string) {
    const count = (result: "hit" | "miss" | "error" | "unmapped") => options.metrics?.onDemand.inc({ result });
    try {
      const stored = await store.getManifest(repo, reference);
      count("hit");
      if (!options.onDemand?.refreshTag || reference.includes(":")) return stored;
      if (!(await options.onDemand.refreshTag(repo, reference))) return stored;
      return await store.getManifest(repo, reference);
    } catch (err) {
      if ((err as { code?: string }).code !== "NOT_FOUND" || !options.onDemand) throw err;
      const mapped = await options.onDemand.ensureImage(repo, reference).catch((e: unknown) => {
        count("error");
        throw e;
      });
      count(mapped ? "miss" : "unmapped");
      if (!mapped) throw err;
      return store.getManifest(repo, reference);
    }
  }
}

function repoOf(route: V2Route): string | null {
  return "name" in route ? route.name : null;
}

function sendJson(res: ServerResponse, method: string, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": JSON_TYPE, "Content-Length": String(Buffer.byteLength(body)) });
  res.end(method === "HEAD" ? undefined : body);
}

function pageOf(url: URL): { n: number; last: string | undefined } {
  const raw = url.searchParams.get("n");
  const n = raw === null ? DEFAULT_PAGE : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new V2Error(400, "UNSUPPORTED", "n must be a non-negative integer");
  return { n: Math.min(n, MAX_PAGE), last: url.searchParams.get("last") ?? undefined };
}

function setLink(res: ServerResponse, path: string, n: number, last: string): void {
  res.setHeader("Link", `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`);
}

function acceptList(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(",")
    .map((s) => s.split(";")[0]!.trim())
    .filter(Boolean);
}
