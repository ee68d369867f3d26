/**
 * Round trips the client saves: connections kept across HEAD requests, and referrer lookups that
 * skip what cannot exist (a registry without the referrers API, a fallback tag not in the listing).
 */
import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryClient, referrersTag } from "../../../lib/oci";

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha("{}"), size: 2 }, layers: [] }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

interface Server {
  url: string;
  connections: number;
  requests: string[];
}

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Server> {
  const s: Server = { url: "", connections: 0, requests: [] };
  const server = http.createServer((req, res) => {
    s.requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.on("connection", () => s.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return s;
}

function client(url: string): RegistryClient {
  const c = new RegistryClient({ url, retry: { maxRetries: 2, retryDelayMs: 5, maxRetryDelayMs: 100 } });
  cleanup.push(() => c.close());
  return c;
}

function sendManifest(res: http.ServerResponse): void {
  res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": manifest.length, "docker-content-digest": sha(manifest) });
  res.end(manifest);
}

describe("connections", () => {
  it("keeps one connection across HEADs and the GETs after them (undici closes after HEAD by default)", async () => {
    const s = await serve((req, res) => {
      if (req.url === "/v2/") return void res.end("{}");
      if (req.url?.endsWith("/manifests/missing")) {
        res.writeHead(404, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "unknown" }] }));
      }
      sendManifest(res);
    });
    const c = client(s.url);
    await c.ping();
    for (let i = 0; i < 5; i++) expect((await c.headManifest("r/x", "v1")).digest).toBe(sha(manifest));
    for (let i = 0; i < 3; i++) await expect(c.headManifest("r/x", "missing")).rejects.toMatchObject({ code: "MANIFEST_UNKNOWN" });
    for (let i = 0; i < 3; i++) expect((await c.getManifest("r/x", "v1")).digest).toBe(sha(manifest));
    expect(s.requests).toHaveLength(12);
    // undici may open a second socket while the first is handed back (it waits one event-loop
    // turn before reusing one); without keep-alive after HEAD this was one per request after the first HEAD.
    expect(s.connections).toBeLessThanOrEqual(2);
  });

  it("survives a server that sends a body with its HEAD answer: the next request is retried on a new connection", async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      let buffered = "";
      socket.on("data", (d) => {
        buffered += d.toString("latin1");
        for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
          buffered = buffered.slice(end + 4);
          const headers = `HTTP/1.1 200 OK\r\ncontent-type: ${OCI_MANIFEST}\r\ncontent-length: ${manifest.length}\r\ndocker-content-digest: ${sha(manifest)}\r\n\r\n`;
          // Wrong on purpose: a HEAD answer must not carry a body.
          socket.write(headers + manifest.toString("latin1"), "latin1");
        }
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const c = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    expect((await c.headManifest("r/x", "v1")).digest).toBe(sha(manifest));
    const m = await c.getManifest("r/x", "v1");
    expect(m.digest).toBe(sha(manifest));
    expect(m.bytes.equals(manifest)).toBe(true);
    expect(connections).toBeGreaterThanOrEqual(2);
  });
});

describe("referrer lookups", () => {
  const subjects = ["a", "b", "c"].map((x) => sha(x));

  it("after a plain 404 from the referrers endpoint, goes straight to the tag schema", async () => {
    const s = await serve((req, res) => {
      if (req.url?.includes("/referrers/")) {
        res.writeHead(404, { "content-type": "text/plain" });
        return void res.end("404 page not found");
      }
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha("sig"), size: 3, artifactType: "sig" }] }));
      if (req.url === `/v2/r/x/manifests/${referrersTag(subjects[1]!)}`) {
        res.writeHead(200, { "content-type": OCI_INDEX, "content-length": index.length });
        return void res.end(index);
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "unknown" }] }));
    });
    const c = client(s.url);
    expect(await c.referrers("r/x", subjects[0]!)).toEqual({ descriptors: [], source: "tag-schema" });
    const found = await c.referrers("r/x", subjects[1]!);
    expect(found.descriptors.map((d) => d.digest)).toEqual([sha("sig")]);
    expect(s.requests.filter((r) => r.includes("/referrers/"))).toHaveLength(1);
    expect(s.requests.filter((r) => r.includes("/manifests/sha256-"))).toHaveLength(2);

    // With the repository's tag list, a fallback tag that is not listed is not asked for.
    const before = s.requests.length;
    expect(await c.referrers("r/x", subjects[2]!, { knownTags: new Set(["v1", referrersTag(subjects[1]!)]) })).toEqual({ descriptors: [], source: "tag-schema" });
    expect(s.requests.length).toBe(before);
    const listed = await c.referrers("r/x", subjects[1]!, { knownTags: new Set([referrersTag(subjects[1]!)]) });
    expect(listed.descriptors).toHaveLength(1);
  });

  it("keeps asking the referrers endpoint when its 404 is about the image (MANIFEST_UNKNOWN) or it answers", async () => {
    let answer = false;
    const s = await serve((req, res) => {
      if (req.url?.includes("/referrers/") && answer) {
        const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
        res.writeHead(200, { "content-type": OCI_INDEX, "content-length": index.length });
        return void res.end(index);
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "unknown" }] }));
    });
    const c = client(s.url);
    await c.referrers("r/x", subjects[0]!);
    await c.referrers("r/x", subjects[1]!);
    answer = true;
    expect(await c.referrers("r/x", subjects[2]!)).toEqual({ descriptors: [], source: "api" });
    expect(await c.referrers("r/x", subjects[0]!)).toEqual({ descriptors: [], source: "api" });
    expect(s.requests.filter((r) => r.includes("/referrers/"))).toHaveLength(4);
  });
});
