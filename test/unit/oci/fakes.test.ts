import { createHash, randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryClient, type OciError, type CredentialHelper } from "../../../lib/oci";
import { fakeServer, json, registryError, type FakeServer } from "./fake-server";

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const manifestBytes = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha("{}"), size: 2 }, layers: [] }),
);

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});
async function serve(handler: Parameters<typeof fakeServer>[0]): Promise<FakeServer> {
  const s = await fakeServer(handler);
  cleanup.push(() => s.close());
  return s;
}
function client(opts: ConstructorParameters<typeof RegistryClient>[0]): RegistryClient {
  const c = new RegistryClient({ retry: { maxRetries: 3, retryDelayMs: 5, maxRetryDelayMs: 2000 }, ...opts });
  cleanup.push(() => c.close());
  return c;
}
async function drain(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
function sendManifest(res: ServerResponse, bytes = manifestBytes, extra: Record<string, string> = {}) {
  res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": bytes.length, "docker-content-digest": sha(bytes), ...extra });
  res.end(bytes);
}

describe("bearer token flow", () => {
  it("fetches a token per scope, caches it, and refreshes once on 401", async () => {
    const issued: string[] = [];
    let revoked = new Set<string>();
    const s = await serve((req, res) => {
      const url = new URL(req.url!, "http://x");
      if (url.pathname === "/token") {
        const tok = `tok-${issued.length}-${url.searchParams.get("scope")}`;
        issued.push(tok);
        expect(url.searchParams.get("service")).toBe("fake-registry");
        return json(res, 200, { token: tok, expires_in: 300 });
      }
      const auth = req.headers.authorization;
      const repo = /^\/v2\/(.+)\/manifests\//.exec(url.pathname)?.[1];
      const want = `repository:${repo}:pull`;
      if (!auth?.startsWith("Bearer ") || !auth.endsWith(want) || revoked.has(auth.slice(7))) {
        return registryError(res, 401, "UNAUTHORIZED", {
          "www-authenticate": `Bearer realm="${s.url}/token",service="fake-registry",scope="${want}"`,
        });
      }
      sendManifest(res);
    });
    const c = client({ url: s.url });
    await c.getManifest("a/one", "v1");
    await c.getManifest("a/one", "v2");
    expect(issued).toEqual(["tok-0-repository:a/one:pull"]);
    await c.getManifest("b/two", "v1");
    expect(issued).toHaveLength(2);
    // Server revokes the cached token: one 401, one fresh token, success.
    revoked = new Set([issued[0]!]);
    await c.getManifest("a/one", "v1");
    expect(issued).toHaveLength(3);
    // Five parallel requests for a new scope share one token fetch.
    await Promise.all(Array.from({ length: 5 }, () => c.headManifest("c/three", "v1")));
    expect(issued).toHaveLength(4);
    expect(s.requests.filter((r) => r.url.startsWith("/token"))).toHaveLength(4);
  });

  it("sends credentials to the token server (GET with basic), falls back to the OAuth2 POST form, uses identity tokens", async () => {
    const seen: Array<{ method: string; auth?: string; body?: string }> = [];
    let allowGet = true;
    const s = await serve(async (req, res) => {
      const url = new URL(req.url!, "http://x");
      if (url.pathname === "/token") {
        let body = "";
        for await (const c of req) body += String(c);
        seen.push({ method: req.method!, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(body ? { body } : {}) });
        if (req.method === "GET" && !allowGet) return registryError(res, 405, "UNSUPPORTED");
        return json(res, 200, { access_token: "good-token", expires_in: 60 });
      }
      if (req.headers.authorization !== "Bearer good-token") {
        return registryError(res, 401, "UNAUTHORIZED", { "www-authenticate": `Bearer realm="${s.url}/token",service="svc"` });
      }
      sendManifest(res);
    });
    const basic = client({ url: s.url, credentials: { username: "u", password: "pw" } });
    await basic.getManifest("x/y", "v1");
    expect(seen[0]).toEqual({ method: "GET", auth: `Basic ${Buffer.from("u:pw").toString("base64")}` });

    allowGet = false;
    const post = client({ url: s.url, credentials: { username: "u", password: "pw" } });
    await post.getManifest("x/y", "v1");
    const form = new URLSearchParams(seen.at(-1)!.body);
    expect(seen.at(-1)!.method).toBe("POST");
    expect(Object.fromEntries(form)).toMatchObject({ grant_type: "password", username: "u", password: "pw", service: "svc", scope: "repository:x/y:pull" });

    const ident = client({ url: s.url, credentials: { identityToken: "refresh-me" } });
    await ident.getManifest("x/y", "v1");
    expect(Object.fromEntries(new URLSearchParams(seen.at(-1)!.body))).toMatchObject({ grant_type: "refresh_token", refresh_token: "refresh-me" });
  });

  it("reports a rejected token request as UNAUTHORIZED without the password", async () => {
    const s = await serve((req, res) => {
      if (req.url!.startsWith("/token")) return registryError(res, 401, "UNAUTHORIZED");
      registryError(res, 401, "UNAUTHORIZED", { "www-authenticate": `Bearer realm="${s.url}/token"` });
    });
    const c = client({ url: s.url, credentials: { username: "u", password: "sup3r-secret" } });
    const err = (await c.ping().catch((e: unknown) => e)) as OciError;
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err.message).not.toContain("sup3r-secret");
    expect(JSON.stringify(err)).not.toContain("sup3r-secret");
  });

  it("asks a CredentialHelper to refresh rotated credentials", async () => {
    let password = "old";
    const s = await serve((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from(`aws:${password}`).toString("base64")}`) {
        return registryError(res, 401, "UNAUTHORIZED", { "www-authenticate": 'Basic realm="ecr"' });
      }
      json(res, 200, {});
    });
    const calls: string[] = [];
    let current = "old";
    const helper: CredentialHelper = {
      areCredentialsValid: () => true,
      getCredentials: (urls) => {
        calls.push("get");
        return Object.fromEntries(urls.map((u) => [u, { username: "aws", password: current }]));
      },
      refreshCredentials: () => {
        calls.push("refresh");
        current = "new";
        return { username: "aws", password: current };
      },
    };
    const c = client({ url: s.url, credentialHelper: helper });
    expect((await c.ping()).auth).toBe("basic");
    password = "new";
    await c.ping();
    expect(calls).toEqual(["get", "refresh"]);
  });
});

describe("resilience", () => {
  it("retries 5xx with backoff and honours Retry-After on 429; exposes rate-limit headers", async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      n++;
      if (n === 1) return registryError(res, 503, "UNAVAILABLE");
      if (n === 2) return registryError(res, 429, "TOOMANYREQUESTS", { "retry-after": "1", "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600" });
      sendManifest(res, manifestBytes, { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "99;w=21600" });
    });
    const c = client({ url: s.url });
    const t0 = Date.now();
    const m = await c.getManifest("r/x", "v1");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(m.digest).toBe(sha(manifestBytes));
    expect(n).toBe(3);
    expect(c.rateLimit).toMatchObject({ limit: 100, remaining: 99, windowSeconds: 21600 });
  });

  it("gives up at once when Retry-After is beyond the cap, handing back retryAfterMs", async () => {
    const s = await serve((_req, res) => registryError(res, 429, "TOOMANYREQUESTS", { "retry-after": "3600" }));
    const c = client({ url: s.url });
    const t0 = Date.now();
    const err = (await c.listTags("r/x").catch((e: unknown) => e)) as OciError;
    expect(err).toMatchObject({ code: "TOOMANYREQUESTS", status: 429, registryCode: "TOOMANYREQUESTS", retryable: true, retryAfterMs: 3_600_000 });
    expect(Date.now() - t0).toBeLessThan(500);
    expect(s.requests).toHaveLength(1);
  });

  it("times out a server that never answers, retrying, then TIMEOUT", async () => {
    const s = await serve(() => {
      /* never answer */
    });
    const c = client({ url: s.url, timeouts: { headersMs: 150 }, retry: { maxRetries: 1, retryDelayMs: 5 } });
    const err = (await c.headManifest("slow/x", "v1").catch((e: unknown) => e)) as OciError;
    expect(err).toMatchObject({ code: "TIMEOUT", retryable: true });
    expect(s.requests).toHaveLength(2);
  });

  it("keeps at most maxConcurrentRequests in flight", async () => {
    let active = 0;
    let peak = 0;
    const s = await serve(async (_req, res) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 30));
      active--;
      sendManifest(res);
    });
    const c = client({ url: s.url, maxConcurrentRequests: 2 });
    await Promise.all(Array.from({ length: 8 }, (_, i) => c.getManifest("conc/x", `v${i}`)));
    expect(peak).toBe(2);
  });

  it("aborts with ABORTED", async () => {
    const s = await serve(() => {});
    const c = client({ url: s.url });
    const ac = new AbortController();
    const p = c.getManifest("a/b", "v1", { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: "ABORTED" });
  });
});

describe("blobs", () => {
  const blob = randomBytes(3 * 1024 * 1024 + 5);
  const digest = sha(blob);

  it("resumes with Range after a connection reset mid-blob", async () => {
    const ranges: Array<string | undefined> = [];
    const s = await serve((req, res) => {
      ranges.push(req.headers.range);
      if (!req.headers.range) {
        res.writeHead(200, { "content-length": blob.length, "docker-content-digest": digest });
        res.write(blob.subarray(0, 1024 * 1024), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      const start = Number(/bytes=(\d+)-/.exec(req.headers.range)![1]);
      res.writeHead(206, { "content-length": blob.length - start, "content-range": `bytes ${start}-${blob.length - 1}/${blob.length}` });
      res.end(blob.subarray(start));
    });
    const c = client({ url: s.url });
    const stream = await c.getBlob("b/x", digest, { expectedSize: blob.length });
    const got = await drain(stream);
    expect(got.equals(blob)).toBe(true);
    expect(stream.resumes).toBe(1);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
  });

  it("resumes against a server that ignores Range by skipping what it has", async () => {
    let first = true;
    const s = await serve((req, res) => {
      res.writeHead(200, { "content-length": blob.length });
      if (first) {
        first = false;
        res.write(blob.subarray(0, 700_000), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      res.end(blob);
    });
    const c = client({ url: s.url });
    const got = await drain(await c.getBlob("b/x", digest));
    expect(got.equals(blob)).toBe(true);
  });

  it("errors with DIGEST_MISMATCH at the end when the bytes are wrong", async () => {
    const bad = Buffer.from(blob);
    bad[12345] = bad[12345]! ^ 0xff;
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-length": bad.length });
      res.end(bad);
    });
    const c = client({ url: s.url });
    const stream = await c.getBlob("b/x", digest, { expectedSize: blob.length });
    await expect(drain(stream)).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await expect(c.getBlobBytes("b/x", digest)).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
  });

  it("errors with SIZE_MISMATCH when the registry sends more than expected", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "transfer-encoding": "chunked" });
      res.end(blob);
    });
    const c = client({ url: s.url });
    await expect(drain(await c.getBlob("b/x", digest, { expectedSize: 1000 }))).rejects.toMatchObject({ code: "SIZE_MISMATCH" });
  });

  it("follows a redirect to another host without sending the registry's Authorization", async () => {
    const storage = await serve((req, res) => {
      res.writeHead(200, { "content-length": blob.length });
      res.end(blob);
    });
    const s = await serve((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from("u:p").toString("base64")}`) {
        return registryError(res, 401, "UNAUTHORIZED", { "www-authenticate": 'Basic realm="r"' });
      }
      res.writeHead(307, { location: `${storage.url}/bucket/blob?X-Amz-Signature=sig` });
      res.end();
    });
    const c = client({ url: s.url, credentials: { username: "u", password: "p" } });
    const got = await drain(await c.getBlob("b/x", digest, { expectedSize: blob.length }));
    expect(got.equals(blob)).toBe(true);
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0]!.headers.authorization).toBeUndefined();
    expect(storage.requests[0]!.url).toBe("/bucket/blob?X-Amz-Signature=sig");
  });
});

describe("manifests", () => {
  it("rejects bytes that do not match the requested digest, or Docker-Content-Digest", async () => {
    const other = Buffer.from(manifestBytes.toString().replace("[]", "[ ]"));
    const s = await serve((req, res) => {
      if (req.url!.includes("/manifests/sha256:")) return sendManifest(res, other);
      sendManifest(res, manifestBytes, { "docker-content-digest": sha(other) });
    });
    const c = client({ url: s.url });
    await expect(c.getManifest("m/x", sha(manifestBytes))).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await expect(c.getManifest("m/x", "v1")).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
  });

  it("rejects an oversized manifest, announced or chunked", async () => {
    const s = await serve((req, res) => {
      if (req.url!.endsWith("/announced")) {
        res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": 5 * 1024 * 1024 });
        res.write(Buffer.alloc(1024));
        return; // never finishes: the client must not wait for it
      }
      res.writeHead(200, { "content-type": OCI_MANIFEST });
      res.end(Buffer.alloc(5000, 0x20));
    });
    const c = client({ url: s.url });
    await expect(c.getManifest("m/x", "announced")).rejects.toMatchObject({ code: "MANIFEST_TOO_LARGE" });
    const small = client({ url: s.url, maxManifestBytes: 4096 });
    await expect(small.getManifest("m/x", "chunked")).rejects.toMatchObject({ code: "MANIFEST_TOO_LARGE" });
  });

  it("falls back to GET when HEAD has no Docker-Content-Digest", async () => {
    const s = await serve((req, res) => {
      if (req.method === "HEAD") {
        res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": manifestBytes.length });
        res.end();
        return;
      }
      sendManifest(res);
    });
    const c = client({ url: s.url });
    expect(await c.headManifest("m/x", "v1")).toEqual({ digest: sha(manifestBytes), mediaType: OCI_MANIFEST, size: manifestBytes.length });
    expect(s.requests.map((r) => r.method)).toEqual(["HEAD", "GET"]);
  });
});

describe("paging", () => {
  it("pages tags by Link with n and last", async () => {
    const all = Array.from({ length: 11 }, (_, i) => `t${String(i).padStart(2, "0")}`);
    const s = await serve((req, res) => {
      const url = new URL(req.url!, "http://x");
      const n = Number(url.searchParams.get("n"));
      const last = url.searchParams.get("last");
      const from = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(from, from + n);
      const headers: Record<string, string> = {};
      if (from + n < all.length) headers.link = `</v2/p/x/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`;
      json(res, 200, { name: "p/x", tags: page }, headers);
    });
    const c = client({ url: s.url, pageSize: 4 });
    const pages: string[][] = [];
    for await (const p of c.tagPages("p/x")) pages.push(p);
    expect(pages.map((p) => p.length)).toEqual([4, 4, 3]);
    expect(pages.flat()).toEqual(all);
  });

  it("stops on a Link that loops and fails past maxPages", async () => {
    const s = await serve((req, res) => {
      const url = new URL(req.url!, "http://x");
      if (url.pathname === "/v2/_catalog") {
        // always the same next link: a loop
        return json(res, 200, { repositories: ["a", "b"] }, { link: '</v2/_catalog?last=b&n=2>; rel="next"' });
      }
      // tags: a fresh link each time but the same content
      if (url.pathname === "/v2/same/tags/list") {
        return json(res, 200, { tags: ["x"] }, { link: `</v2/same/tags/list?last=${Math.random()}>; rel="next"` });
      }
      // endless distinct pages
      const k = Number(url.searchParams.get("k") ?? 0);
      json(res, 200, { tags: [`t${k}`] }, { link: `</v2/endless/tags/list?k=${k + 1}>; rel="next"` });
    });
    const c = client({ url: s.url, maxPages: 5 });
    expect(await c.listRepositories()).toEqual(["a", "b"]);
    expect(s.requests.filter((r) => r.url.startsWith("/v2/_catalog"))).toHaveLength(2);
    expect(await c.listTags("same")).toEqual(["x"]);
    await expect(c.listTags("endless")).rejects.toMatchObject({ code: "PAGING_LIMIT" });
  });
});

describe("referrers API", () => {
  it("pages the referrers index and filters by artifactType when the server did not", async () => {
    const subject = sha("subject");
    const d = (n: number, artifactType: string) => ({ mediaType: OCI_MANIFEST, digest: sha(String(n)), size: n, artifactType });
    const s = await serve((req, res) => {
      const url = new URL(req.url!, "http://x");
      expect(url.pathname).toBe(`/v2/r/x/referrers/${subject}`);
      if (!url.searchParams.get("page")) {
        return json(res, 200, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d(1, "sig"), d(2, "sbom")] }, {
          "content-type": OCI_INDEX,
          link: `</v2/r/x/referrers/${subject}?page=2>; rel="next"`,
        });
      }
      json(res, 200, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d(3, "sbom")] }, { "content-type": OCI_INDEX });
    });
    const c = client({ url: s.url });
    const all = await c.referrers("r/x", subject);
    expect(all.source).toBe("api");
    expect(all.descriptors.map((x) => x.size)).toEqual([1, 2, 3]);
    const sboms = await c.referrers("r/x", subject, { artifactType: "sbom" });
    expect(sboms.descriptors.map((x) => x.size)).toEqual([2, 3]);
  });
});
