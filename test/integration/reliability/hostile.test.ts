/**
 * Hostile upstream corpus: each case is a fake registry (node:http) that lies in one way. Ferry's
 * sync engine (createSyncService on a real FsStore) must end every case with a specific error
 * code in the outcome (or the thrown task error), write nothing, stay within a time bound and a
 * memory bound, and keep working (the last case is a clean sync on the same store).
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../../lib/store";
import { createSyncService, describeError, MemoryTagState, type RegistryConfigInput, type SyncContext } from "../../../lib/sync";
import { digestOf, makeImage, OCI_INDEX, OCI_MANIFEST, redirectTo, startHostileRegistry, trickle, type Answer, type HostileRegistry } from "../../helpers/hostile-registry";

interface Case {
  name: string;
  /** Repository synced (default `h/<n>`). */
  repo?: string;
  /** Catalog the registry lists; with it the case starts from getNextRepo (a generator round). */
  catalog?: string[];
  answer: Answer;
  /** Codes allowed in outcomes/thrown errors; at least one must occur. */
  codes: string[];
  /** Default 10 s. */
  boundMs?: number;
  config?: Partial<RegistryConfigInput>;
  /** When the lie is harmless and the sync may succeed (Link loops): still verified, still bounded. */
  mayWrite?: boolean;
  /** Mirror the fake's clean image into another repository first, so its blobs are in the store. */
  prime?: boolean;
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const b = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  res.writeHead(status, { "content-type": "application/json", "content-length": String(b.length), ...headers });
  res.end(b);
  return true;
};
const manifestAnswer = (res: http.ServerResponse, req: http.IncomingMessage, bytes: Buffer, headers: Record<string, string> = {}) => {
  res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": String(bytes.length), "docker-content-digest": digestOf(bytes), ...headers });
  res.end(req.method === "HEAD" ? undefined : bytes);
  return true;
};
const isManifest = (u: URL) => /\/manifests\/[^/]+$/.test(u.pathname);
const isBlob = (u: URL) => /\/blobs\/[^/]+$/.test(u.pathname);
const isTags = (u: URL) => u.pathname.endsWith("/tags/list");

/** An image manifest whose one layer descriptor is `layer` (config is the fake's valid one). */
function imageWith(reg: RegInfo, layer: Record<string, unknown>, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(reg.image.config), size: reg.image.config.length },
      layers: [layer],
      ...extra,
    }),
  );
}

/** What the cases need of the fake registry; `url` is filled in once it listens. */
type RegInfo = Pick<HostileRegistry, "url" | "image">;

function cases(reg: RegInfo, other: { url: string }): Case[] {
  const img = reg.image;
  const layerDigest = digestOf(img.layer);
  const layerDesc = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: img.layer.length };
  const lyingBlob = (body: Buffer, headers: Record<string, string> = {}): Answer => (req, res, u) => {
    if (!isBlob(u) || !u.pathname.endsWith(layerDigest)) return false;
    res.writeHead(200, { "content-length": String(body.length), ...headers });
    res.end(body);
    return true;
  };
  // A 10,000-deep chain of indexes, each consistent with its digest.
  const deep = new Map<string, Buffer>();
  let childDigest = img.digest;
  let childType = OCI_MANIFEST;
  let childSize = img.manifest.length;
  let top = Buffer.alloc(0);
  for (let i = 0; i < 10_000; i++) {
    top = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: childType, digest: childDigest, size: childSize, platform: { os: "linux", architecture: "amd64" } }] }));
    childDigest = digestOf(top);
    childType = OCI_INDEX;
    childSize = top.length;
    deep.set(childDigest, top);
  }
  const wideChild = (i: number) => ({ mediaType: OCI_MANIFEST, digest: digestOf(`child-${i}`), size: 500, platform: { os: "linux", architecture: `arch${i}` } });
  const tooWide = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: 100_000 }, (_, i) => wideChild(i)) }));
  const wide = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: 20_000 }, (_, i) => wideChild(i)) }));
  const tokenServer = (token: string | Buffer): Answer => (req, res, u) => {
    if (u.pathname === "/token") return json(res, 200, typeof token === "string" ? token : token.toString());
    if (!(req.headers.authorization ?? "").startsWith("Bearer ")) {
      res.writeHead(401, { "www-authenticate": `Bearer realm="${reg.url}/token",service="fake"`, "content-length": "0" });
      res.end();
      return true;
    }
    return false;
  };

  return [
    // --- manifests that lie ---
    { name: "manifest bytes do not match Docker-Content-Digest", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, img.manifest, { "docker-content-digest": digestOf("something else") }), codes: ["DIGEST_MISMATCH"] },
    {
      name: "manifest fetched by digest returns other bytes",
      answer: (req, res, u) => {
        if (!isManifest(u)) return false;
        if (u.pathname.endsWith("/v1")) return manifestAnswer(res, req, img.manifest);
        const other = makeImage().manifest;
        res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": String(other.length) });
        res.end(req.method === "HEAD" ? undefined : other);
        return true;
      },
      codes: ["DIGEST_MISMATCH"],
    },
    { name: "manifest over 4 MiB (announced)", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, Buffer.concat([img.manifest.subarray(0, -1), Buffer.from(`,"pad":"${"x".repeat(4 * 1024 * 1024)}"}`)])), codes: ["MANIFEST_TOO_LARGE"] },
    {
      name: "manifest over 4 MiB (chunked, no length)",
      answer: (req, res, u) => {
        if (!isManifest(u)) return false;
        if (req.method === "HEAD") return manifestAnswer(res, req, img.manifest);
        res.writeHead(200, { "content-type": OCI_MANIFEST });
        for (let i = 0; i < 5; i++) res.write(Buffer.alloc(1024 * 1024, 0x20));
        res.end("{}");
        return true;
      },
      codes: ["MANIFEST_TOO_LARGE"],
    },
    { name: "manifest that is not JSON", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, Buffer.from("<html>hello</html>")), codes: ["MANIFEST_INVALID"] },
    { name: "manifest JSON bomb (200,000-deep nesting)", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, Buffer.from(`${"[".repeat(200_000)}${"]".repeat(200_000)}`)), codes: ["MANIFEST_INVALID"] },
    { name: "manifest with schemaVersion 1", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, Buffer.from(JSON.stringify({ schemaVersion: 1, name: "x", tag: "v1", fsLayers: [] }))), codes: ["MANIFEST_INVALID"] },
    { name: "manifest of an unknown media type", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, imageWith(reg, layerDesc, { mediaType: "application/x-evil" }), { "content-type": "application/x-evil" }), codes: ["MANIFEST_INVALID", "UNSUPPORTED", "BAD_USER_INPUT"] },
    { name: "manifest with a negative layer size", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, imageWith(reg, { ...layerDesc, size: -1 })), codes: ["MANIFEST_INVALID"] },
    { name: "manifest with an absurd layer size (2^53)", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, imageWith(reg, { ...layerDesc, size: 2 ** 53 })), codes: ["MANIFEST_INVALID", "SIZE_MISMATCH"] },
    { name: "manifest with a petabyte layer the registry does not have", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, imageWith(reg, { ...layerDesc, size: 1e15 })), codes: ["SIZE_MISMATCH"] },
    { name: "manifest lying about the size of a layer the store already holds", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, imageWith(reg, { ...layerDesc, size: layerDesc.size + 1 })), codes: ["DIGEST_MISMATCH", "SIZE_MISMATCH"], prime: true },
    { name: "manifest with an md5 layer digest", answer: (req, res, u) => isManifest(u) && manifestAnswer(res, req, imageWith(reg, { ...layerDesc, digest: "md5:d41d8cd98f00b204e9800998ecf8427e" })), codes: ["UNSUPPORTED_DIGEST", "MANIFEST_INVALID"] },
    { name: "HEAD says text/html and the GET is a web page", answer: (req, res, u) => { if (!isManifest(u)) return false; const page = Buffer.from("<!doctype html><title>login</title>"); res.writeHead(200, { "content-type": "text/html", "content-length": String(page.length) }); res.end(req.method === "HEAD" ? undefined : page); return true; }, codes: ["MANIFEST_INVALID"] },
    // --- indexes ---
    {
      name: "index that lists itself (the child GET returns the index)",
      answer: (req, res, u) => {
        if (!isManifest(u)) return false;
        const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: digestOf("self"), size: 100 }] }));
        res.writeHead(200, { "content-type": OCI_INDEX, "content-length": String(idx.length), ...(u.pathname.endsWith("/v1") ? { "docker-content-digest": digestOf(idx) } : {}) });
        res.end(req.method === "HEAD" ? undefined : idx);
        return true;
      },
      codes: ["DIGEST_MISMATCH"],
    },
    {
      name: "10,000-deep chain of indexes",
      answer: (req, res, u) => {
        if (!isManifest(u)) return false;
        const ref = u.pathname.split("/").pop()!;
        const bytes = ref === "v1" ? top : deep.get(ref) ?? (ref === img.digest ? img.manifest : undefined);
        if (!bytes) return false;
        res.writeHead(200, { "content-type": bytes === img.manifest ? OCI_MANIFEST : OCI_INDEX, "content-length": String(bytes.length), "docker-content-digest": digestOf(bytes) });
        res.end(req.method === "HEAD" ? undefined : bytes);
        return true;
      },
      codes: ["MANIFEST_INVALID", "UPSTREAM_ERROR"],
    },
    { name: "100,000-wide index (over the manifest limit)", answer: (req, res, u) => { if (!isManifest(u)) return false; res.writeHead(200, { "content-type": OCI_INDEX, "content-length": String(tooWide.length), "docker-content-digest": digestOf(tooWide) }); res.end(req.method === "HEAD" ? undefined : tooWide); return true; }, codes: ["MANIFEST_TOO_LARGE"] },
    {
      name: "20,000-wide index whose children do not exist",
      answer: (req, res, u) => {
        if (!isManifest(u) || !(u.pathname.endsWith("/v1") || u.pathname.endsWith(digestOf(wide)))) return false;
        res.writeHead(200, { "content-type": OCI_INDEX, "content-length": String(wide.length), "docker-content-digest": digestOf(wide) });
        res.end(req.method === "HEAD" ? undefined : wide);
        return true;
      },
      codes: ["MANIFEST_UNKNOWN"],
    },
    // --- blobs that lie ---
    { name: "blob with the right size and the wrong bytes", answer: lyingBlob(Buffer.alloc(img.layer.length, 7)), codes: ["DIGEST_MISMATCH"] },
    { name: "blob shorter than its descriptor", answer: lyingBlob(img.layer.subarray(0, 100)), codes: ["SIZE_MISMATCH"] },
    { name: "blob longer than its descriptor", answer: lyingBlob(Buffer.concat([img.layer, Buffer.alloc(50)])), codes: ["SIZE_MISMATCH"] },
    {
      name: "blob sent chunked with more bytes than announced by the descriptor",
      answer: (req, res, u) => {
        if (!isBlob(u) || !u.pathname.endsWith(layerDigest)) return false;
        res.writeHead(200);
        res.write(img.layer);
        res.end(Buffer.alloc(1024 * 1024));
        return true;
      },
      codes: ["SIZE_MISMATCH"],
    },
    // --- names ---
    {
      name: "catalog with path traversal, NUL, look-alike and 10 KB names",
      catalog: ["../../etc/passwd", "a/../../b", "/abs", "a\u0000b", "ａｌｐｉｎｅ", "x".repeat(10_000), "UPPER/case", "a//b"],
      answer: () => false,
      codes: ["NAME_INVALID"],
    },
    { name: "tags with illegal characters", answer: (_req, res, u) => isTags(u) && json(res, 200, { name: "x", tags: ["../x", "a/b", "ok\u0000", "t".repeat(10_000), "ｌａｔｅｓｔ", "-dash", ".dot"] }), codes: ["TAG_INVALID"] },
    {
      name: "tag list over 32 MiB",
      answer: (_req, res, u) => {
        if (!isTags(u)) return false;
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"name":"x","tags":[');
        const chunk = Buffer.from(`${'"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",'.repeat(20_000)}`);
        for (let i = 0; i < 34; i++) res.write(chunk);
        res.end('"z"]}');
        return true;
      },
      codes: ["INVALID_RESPONSE"],
    },
    // Tag-count cap (maxTagsPerRepo): the repository fails, nothing of it is written.
    { name: "tag list longer than maxTagsPerRepo", answer: (_req, res, u) => isTags(u) && json(res, 200, { name: "x", tags: ["v1", ...Array.from({ length: 24 }, (_, i) => `t${i}`)] }), codes: ["TOO_MANY_TAGS"], config: { maxTagsPerRepo: 20 } },
    { name: "10,001 tags against the default cap of 10,000", answer: (_req, res, u) => isTags(u) && json(res, 200, { name: "x", tags: ["v1", ...Array.from({ length: 10_000 }, (_, i) => `t${i}`)] }), codes: ["TOO_MANY_TAGS"] },
    {
      name: "endless distinct tag pages stop at the tag cap, not the page cap",
      answer: (_req, res, u) => {
        if (!isTags(u)) return false;
        const n = Number(u.searchParams.get("p") ?? 0);
        return json(res, 200, { name: "x", tags: Array.from({ length: 10 }, (_, i) => `p${n}-${i}`) }, { link: `<${u.pathname}?p=${n + 1}>; rel="next"` });
      },
      codes: ["TOO_MANY_TAGS"],
      config: { maxTagsPerRepo: 50 },
    },
    { name: "tag list that is not JSON", answer: (_req, res, u) => isTags(u) && json(res, 200, "tags: [v1]"), codes: ["INVALID_RESPONSE"] },
    { name: "tag list whose tags are numbers", answer: (_req, res, u) => isTags(u) && json(res, 200, { name: "x", tags: [1, 2, 3] }), codes: ["INVALID_RESPONSE"] },
    // --- paging ---
    {
      name: "Link header that loops back to the first page",
      answer: (_req, res, u) => {
        if (!isTags(u)) return false;
        const second = u.searchParams.get("last") === "v1";
        return json(res, 200, { name: "x", tags: second ? [] : ["v1"] }, { link: second ? `<${u.pathname}>; rel="next"` : `<${u.pathname}?last=v1>; rel="next"` });
      },
      codes: [],
      mayWrite: true,
    },
    { name: "Link header to another host", answer: (_req, res, u) => isTags(u) && json(res, 200, { name: "x", tags: ["v1"] }, { link: `<${other.url}/v2/x/tags/list?last=v1>; rel="next"` }), codes: ["INVALID_RESPONSE"] },
    {
      name: "endless Link chain of distinct pages",
      answer: (_req, res, u) => {
        if (!isTags(u)) return false;
        const n = Number(u.searchParams.get("p") ?? 0);
        return json(res, 200, { name: "x", tags: [`t${n}`] }, { link: `<${u.pathname}?p=${n + 1}>; rel="next"` });
      },
      codes: ["PAGING_LIMIT", "UPSTREAM_TIMEOUT"],
      boundMs: 20_000,
    },
    // --- redirects ---
    { name: "blob redirect loop", answer: (_req, res, u) => { if (!isBlob(u)) return false; res.writeHead(302, { location: u.pathname, "content-length": "0" }); res.end(); return true; }, codes: ["TOO_MANY_REDIRECTS"] },
    { name: "blob redirect to file:", answer: (_req, res, u) => { if (!isBlob(u)) return false; res.writeHead(307, { location: "file:///etc/passwd", "content-length": "0" }); res.end(); return true; }, codes: ["INVALID_RESPONSE"] },
    // Redirects into internal networks (lib/oci/redirect-guard.ts): the registry is on loopback,
    // so loopback targets are allowed and every other internal class is refused before connecting.
    { name: "blob redirect to the cloud metadata address", answer: redirectTo("http://169.254.169.254/latest/meta-data/iam/security-credentials/"), codes: ["ADDRESS_REFUSED"] },
    { name: "manifest redirect to a private 10/8 address", answer: redirectTo("http://10.0.0.1/v2/x/manifests/v1", "manifest", 302), codes: ["ADDRESS_REFUSED"] },
    { name: "blob redirect to a 192.168/16 address", answer: redirectTo("http://192.168.1.1:8080/blob"), codes: ["ADDRESS_REFUSED"] },
    { name: "blob redirect to an IPv6 unique-local address", answer: redirectTo("http://[fd00::1]/blob"), codes: ["ADDRESS_REFUSED"] },
    { name: "blob redirect to IPv4-mapped IPv6 metadata", answer: redirectTo("http://[::ffff:169.254.169.254]/latest/"), codes: ["ADDRESS_REFUSED"] },
    { name: "blob redirect to IPv6 link-local", answer: redirectTo("http://[fe80::1]/blob"), codes: ["ADDRESS_REFUSED"] },
    {
      name: "auth realm at the metadata address",
      answer: (req, res) => {
        if ((req.headers.authorization ?? "").startsWith("Bearer ")) return false;
        res.writeHead(401, { "www-authenticate": 'Bearer realm="http://169.254.169.254/token",service="x"', "content-length": "0" });
        res.end();
        return true;
      },
      codes: ["ADDRESS_REFUSED"],
    },
    // Same class as the registry (loopback → localhost, resolved by name): followed, and the
    // wrong bytes behind it are caught as usual.
    { name: "blob redirect to another loopback service (allowed, bytes still verified)", answer: redirectTo(() => `${other.url.replace("127.0.0.1", "localhost")}/blob`), codes: ["DIGEST_MISMATCH", "SIZE_MISMATCH"] },
    { name: "redirect without Location", answer: (_req, res, u) => { if (!isManifest(u)) return false; res.writeHead(302, { "content-length": "0" }); res.end(); return true; }, codes: ["INVALID_RESPONSE"] },
    // --- auth ---
    { name: "token endpoint returning a 2 MiB token", answer: tokenServer(JSON.stringify({ token: "t".repeat(2 * 1024 * 1024) })), codes: ["INVALID_RESPONSE"] },
    { name: "token endpoint returning non-JSON", answer: tokenServer("<html>"), codes: ["INVALID_RESPONSE"] },
    {
      name: "auth challenge with a file: realm",
      answer: (_req, res) => {
        res.writeHead(401, { "www-authenticate": 'Bearer realm="file:///etc/passwd",service="x"', "content-length": "0" });
        res.end();
        return true;
      },
      codes: ["INVALID_RESPONSE"],
    },
    {
      name: "registry that answers 401 to every token",
      answer: (req, res, u) => {
        if (u.pathname === "/token") return json(res, 200, { token: "abc" });
        res.writeHead(401, { "www-authenticate": `Bearer realm="${reg.url}/token",service="fake"`, "content-length": "0" });
        res.end();
        return true;
      },
      codes: ["UNAUTHORIZED"],
    },
    // --- error bodies and throttling ---
    {
      name: "gzip bomb in a 500 error body",
      answer: (_req, res, u) => {
        if (!isTags(u)) return false;
        const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
        res.writeHead(500, { "content-type": "application/json", "content-encoding": "gzip", "content-length": String(bomb.length) });
        res.end(bomb);
        return true;
      },
      codes: ["UPSTREAM_5XX"],
    },
    { name: "429 asking to come back in 11 days", answer: (_req, res, u) => isTags(u) && json(res, 429, { errors: [{ code: "TOOMANYREQUESTS", message: "later" }] }, { "retry-after": "999999" }), codes: ["TOOMANYREQUESTS"] },
    // --- slowness ---
    {
      name: "manifest body trickling one byte per 100 ms forever",
      answer: (req, res, u) => {
        if (!isManifest(u) || req.method === "HEAD") return false;
        res.writeHead(200, { "content-type": OCI_MANIFEST });
        trickle(res, " ", 100);
        return true;
      },
      codes: ["UPSTREAM_TIMEOUT"],
      config: { syncTimeout: "2s" },
    },
    {
      name: "blob body trickling forever (under the body idle timeout)",
      answer: (_req, res, u) => {
        if (!isBlob(u) || !u.pathname.endsWith(layerDigest)) return false;
        res.writeHead(200, { "content-length": String(img.layer.length) });
        trickle(res, "x", 100);
        return true;
      },
      codes: ["UPSTREAM_TIMEOUT"],
      config: { syncTimeout: "2s" },
    },
    { name: "headers that never come", answer: (_req, _res, u) => isTags(u), codes: ["UPSTREAM_TIMEOUT"], config: { syncTimeout: "2s" } },
  ];
}

const info: RegInfo = { url: "", image: makeImage() };
const otherInfo = { url: "" };
const CASES = cases(info, otherInfo);

describe("hostile upstream corpus", () => {
  let reg: HostileRegistry;
  let other: http.Server;
  let tmp: string;
  let store: Store;
  const services: Array<ReturnType<typeof createSyncService>> = [];
  const baseRss = process.memoryUsage().rss;
  /** Repositories that cases allowed to write (harmless lies). */
  const written = new Set<string>();

  beforeAll(async () => {
    reg = await startHostileRegistry(info.image);
    info.url = reg.url;
    other = http.createServer((_req, res) => res.writeHead(200).end("{}"));
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    otherInfo.url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-hostile-"));
    store = await openStore(tmp, { fsync: false });
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    await reg?.close();
    other?.closeAllConnections();
    await new Promise<void>((r) => (other ? other.close(() => r()) : r()));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("has at least 30 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  CASES.forEach((c, i) => {
    it(`case ${i + 1}: ${c.name}`, async () => {
      const repo = c.repo ?? `h/case${i + 1}`;
      const primed = `h/prime${i + 1}`;
      if (c.prime) {
        reg.answer = null;
        reg.catalog = [primed];
        const clean = createSyncService({ name: "hostile", urls: [reg.url], pollInterval: "1h", maxRetries: 0 }, { store, tagState: new MemoryTagState() });
        const r = await clean.syncRepo({ signal: new AbortController().signal }, primed);
        await clean.close();
        expect(r.outcomes.map((o) => o.status)).toEqual(["synced"]);
        written.add(primed);
      }
      reg.answer = c.answer;
      reg.catalog = c.catalog ?? [repo];
      const svc = createSyncService(
        { name: "hostile", urls: [reg.url], pollInterval: "1h", maxRetries: 1, retryDelay: 10, maxRetryDelay: 50, tlsVerify: false, ...c.config },
        { store, tagState: new MemoryTagState() },
      );
      services.push(svc);
      const ctx: SyncContext = { signal: new AbortController().signal };
      const codes: string[] = [];
      const started = Date.now();
      const repos: string[] = [];
      try {
        if (c.catalog) for (let r = await svc.getNextRepo(""); r !== ""; r = await svc.getNextRepo(r)) repos.push(r);
        else repos.push(repo);
      } catch (err) {
        codes.push(describeError(err).code);
      }
      for (const r of repos) {
        try {
          const res = await svc.syncRepo(ctx, r);
          for (const o of res.outcomes) {
            if (o.status === "failed") codes.push(o.code);
            if (o.status === "synced" && !c.mayWrite) codes.push(`SYNCED:${o.tag}`);
            if (process.env.HOSTILE_DEBUG) console.log("DEBUG", c.name, JSON.stringify(o).slice(0, 300));
          }
        } catch (err) {
          const d = describeError(err);
          codes.push(d.code);
          if (process.env.HOSTILE_DEBUG) console.log("DEBUG", c.name, d.message);
        }
      }
      const took = Date.now() - started;
      reg.answer = null;
      await svc.close();
      if (c.mayWrite) written.add(repo);
      // Harmless content (a harmless lie's result, a primed image) is upstream's: remove it so
      // later cases start clean.
      for (const r of [...(c.mayWrite ? [repo] : []), ...(c.prime ? [primed] : [])]) {
        for (const tag of await store.listTags(r).catch(() => [])) {
          const d = await store.resolveTag(r, tag);
          if (d) await store.deleteManifest(r, d);
        }
      }
      // Content a case left in the pool (verified, unreferenced) would let the next case dedupe
      // instead of downloading: collect it.
      await store.gc({ gracePeriodMs: 0 });

      expect(took, `${c.name} took ${took} ms`).toBeLessThan(c.boundMs ?? 10_000);
      if (c.codes.length > 0) {
        expect(codes.length, `${c.name}: some error code`).toBeGreaterThan(0);
        for (const code of codes) expect(c.codes, `${c.name}: got ${code}`).toContain(code);
      }
      // Nothing written by a case that lies; nothing unverified anywhere.
      expect((await store.listRepositories()).filter((r) => !written.has(r))).toEqual([]);
      expect(await readdir(path.join(store.root, "staging"))).toEqual([]);
      const v = await store.verify();
      expect(v.ok).toBe(true);
      expect(process.memoryUsage().rss - baseRss, "memory").toBeLessThan(768 * 1024 * 1024);
      console.log(`hostile case ${i + 1} (${c.name}): ${[...new Set(codes)].join(", ") || "ok"} in ${took} ms`);
    });
  });

  it("still syncs a clean image afterwards, and the store verifies", async () => {
    reg.answer = null;
    reg.catalog = ["h/clean"];
    const svc = createSyncService({ name: "hostile", urls: [reg.url], pollInterval: "1h", maxRetries: 1, retryDelay: 10, maxRetryDelay: 50 }, { store, tagState: new MemoryTagState() });
    services.push(svc);
    const r = await svc.syncRepo({ signal: new AbortController().signal }, "h/clean");
    expect(r.outcomes.map((o) => o.status)).toEqual(["synced"]);
    const v = await store.verify();
    expect(v.ok).toBe(true);
  });
});
