/**
 * A scriptable fake registry (node:http) for the hostile-upstream corpus. It serves one valid
 * image per repository from memory (config, one layer, manifest under tag `v1`) unless the
 * current case's `answer` takes the request first, so each case only writes the part that lies.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

export function digestOf(b: Buffer | string): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

export interface ValidImage {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
  digest: string;
}

export function makeImage(layerSize = 2048): ValidImage {
  const layer = randomBytes(layerSize);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(layer)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf(layer), size: layer.length }],
    }),
  );
  return { config, layer, manifest, digest: digestOf(manifest) };
}

/** Returns true when it answered the request. */
export type Answer = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface HostileRegistry {
  url: string;
  port: number;
  image: ValidImage;
  /** The current case's override. */
  answer: Answer | null;
  /** Repositories the catalog lists (default: the case's repo). */
  catalog: string[];
  requests: number;
  close(): Promise<void>;
}

export async function startHostileRegistry(image: ValidImage = makeImage()): Promise<HostileRegistry> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const reg: HostileRegistry = { url: "", port: 0, image, answer: null, catalog: [], requests: 0, close: async () => {} };
  const server = http.createServer(async (req, res) => {
    reg.requests++;
    const url = new URL(req.url ?? "/", "http://x");
    try {
      if (reg.answer && (await reg.answer(req, res, url))) return;
    } catch {
      res.destroy();
      return;
    }
    const p = url.pathname;
    const send = (status: number, body: Buffer | string, headers: Record<string, string> = {}) => {
      const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
      res.writeHead(status, { "content-length": String(b.length), ...headers });
      res.end(req.method === "HEAD" ? undefined : b);
    };
    if (p === "/v2/") return send(200, "{}", { "content-type": "application/json" });
    if (p === "/v2/_catalog") return send(200, JSON.stringify({ repositories: reg.catalog }), { "content-type": "application/json" });
    let m = /^\/v2\/(.+)\/tags\/list$/.exec(p);
    if (m) return send(200, JSON.stringify({ name: m[1], tags: ["v1"] }), { "content-type": "application/json" });
    m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p);
    if (m && (m[2] === "v1" || m[2] === image.digest)) {
      return send(200, image.manifest, { "content-type": OCI_MANIFEST, "docker-content-digest": image.digest });
    }
    m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(p);
    if (m && m[2] === digestOf(image.config)) return send(200, image.config);
    if (m && m[2] === digestOf(image.layer)) return send(200, image.layer);
    send(404, JSON.stringify({ errors: [{ code: p.includes("/blobs/") ? "BLOB_UNKNOWN" : "MANIFEST_UNKNOWN", message: "unknown" }] }), { "content-type": "application/json" });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  reg.port = (server.address() as AddressInfo).port;
  reg.url = `http://127.0.0.1:${reg.port}`;
  reg.close = async () => {
    timers.forEach((t) => clearTimeout(t));
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return reg;
}

/** Writes `chunk` every `everyMs` until the socket closes (a slowloris body). */
export function trickle(res: http.ServerResponse, chunk: string, everyMs: number): void {
  const t = setInterval(() => {
    if (res.destroyed || res.socket?.destroyed) {
      clearInterval(t);
      return;
    }
    res.write(chunk);
  }, everyMs);
  res.on("close", () => clearInterval(t));
}

/** An answer that redirects every blob GET (or, with `what: "manifest"`, manifest GET) to `location`. */
export function redirectTo(location: string | ((u: URL) => string), what: "blob" | "manifest" = "blob", status = 307): Answer {
  return (req, res, u) => {
    if (!new RegExp(`/${what === "blob" ? "blobs" : "manifests"}/[^/]+$`).test(u.pathname) || req.method === "HEAD") return false;
    res.writeHead(status, { location: typeof location === "string" ? location : location(u), "content-length": "0" });
    res.end();
    return true;
  };
}
