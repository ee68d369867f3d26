import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate } from "../../../lib/oci/auth-challenge";
import { parseNextLink } from "../../../lib/oci/paging";
import { parseRateLimit } from "../../../lib/oci/rate-limit";
import { backoffDelay, parseRetryAfter, retryDelayFor } from "../../../lib/oci/retry";
import { TokenCache } from "../../../lib/oci/token-cache";
import { errorFromStatus, OciError, redactUrl } from "../../../lib/oci/errors";
import { cosignTag, cosignTags, parseAttachedTag, parseReference, referrersTag, RegistryClient, formatReference, appCodeOf } from "../../../lib/oci";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it.each([
    ["alpine", { registry: "registry-1.docker.io", repository: "library/alpine" }],
    ["alpine:3.20", { registry: "registry-1.docker.io", repository: "library/alpine", tag: "3.20" }],
    ["docker.io/nginx", { registry: "registry-1.docker.io", repository: "library/nginx" }],
    ["index.docker.io/bitnami/redis:7", { registry: "registry-1.docker.io", repository: "bitnami/redis", tag: "7" }],
    ["ghcr.io/org/tool@" + D, { registry: "ghcr.io", repository: "org/tool", digest: D }],
    ["localhost:5000/a/b/c:v1@" + D, { registry: "localhost:5000", repository: "a/b/c", tag: "v1", digest: D }],
    ["localhost/x", { registry: "localhost", repository: "x" }],
    ["Quay.IO/a__b/c-d.e", { registry: "quay.io", repository: "a__b/c-d.e" }],
    ["[::1]:5000/img", { registry: "[::1]:5000", repository: "img" }],
  ])("%s", (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it.each([
    ["", "REFERENCE_INVALID"],
    ["Upper/Case", "NAME_INVALID"],
    ["a//b", "NAME_INVALID"],
    ["a/-b", "NAME_INVALID"],
    ["alpine:.bad", "TAG_INVALID"],
    [`alpine:${"x".repeat(129)}`, "TAG_INVALID"],
    ["alpine@sha256:abc", "DIGEST_INVALID"],
    [`alpine@md5:${"a".repeat(32)}`, "UNSUPPORTED_DIGEST"],
    ["bad_host:99999/x", "REFERENCE_INVALID"],
    ["has space", "REFERENCE_INVALID"],
    [`${"a/".repeat(130)}b`, "NAME_INVALID"],
  ])("rejects %s with %s", (input, code) => {
    expect(() => parseReference(input)).toThrow(expect.objectContaining({ code }));
  });

  it("uses a default registry and formats back", () => {
    const r = parseReference("team/app:v1", { defaultRegistry: "registry.example.com:5000" });
    expect(formatReference(r)).toBe("registry.example.com:5000/team/app:v1");
  });
});

describe("WWW-Authenticate", () => {
  it("parses a Docker Hub bearer challenge", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull" } },
    ]);
  });
  it("parses several challenges, quoted commas and escapes", () => {
    const c = parseWwwAuthenticate(['Basic realm="a, b"', 'Bearer realm="https://x/t", scope="repository:a:pull,push", error="invalid_token", note="say \\"hi\\""']);
    expect(c).toEqual([
      { scheme: "basic", params: { realm: "a, b" } },
      { scheme: "bearer", params: { realm: "https://x/t", scope: "repository:a:pull,push", error: "invalid_token", note: 'say "hi"' } },
    ]);
    expect(parseWwwAuthenticate('Basic realm="r", Bearer realm="https://t",service=s')).toEqual([
      { scheme: "basic", params: { realm: "r" } },
      { scheme: "bearer", params: { realm: "https://t", service: "s" } },
    ]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
  });
});

describe("Link and rate-limit headers", () => {
  it("finds rel=next", () => {
    expect(parseNextLink('</v2/_catalog?last=b&n=2>; rel="next"')).toBe("/v2/_catalog?last=b&n=2");
    expect(parseNextLink('<https://x/a>; rel="prev", <https://x/b>; rel="next"')).toBe("https://x/b");
    expect(parseNextLink("<https://x/a>; rel=next")).toBe("https://x/a");
    expect(parseNextLink('<https://x/a>; rel="prev"')).toBeUndefined();
  });
  it("reads Docker Hub and IETF rate-limit headers", () => {
    expect(parseRateLimit({ "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600" }, 5)).toEqual({
      limit: 100,
      remaining: 76,
      windowSeconds: 21600,
      observedAt: 5,
    });
    expect(parseRateLimit({ ratelimit: "limit=10, remaining=3, reset=40" }, 1)).toEqual({ limit: 10, remaining: 3, resetSeconds: 40, observedAt: 1 });
    expect(parseRateLimit({}, 1)).toBeUndefined();
  });
});

describe("retry policy", () => {
  const policy = { maxRetries: 3, retryDelayMs: 100, maxRetryDelayMs: 1000 };
  it("backs off exponentially with jitter and a cap", () => {
    expect(backoffDelay(policy, 0, () => 1)).toBe(100);
    expect(backoffDelay(policy, 0, () => 0)).toBe(50);
    expect(backoffDelay(policy, 3, () => 1)).toBe(800);
    expect(backoffDelay(policy, 10, () => 1)).toBe(1000);
  });
  it("honours Retry-After and gives up when it is longer than the cap", () => {
    expect(parseRetryAfter("2")).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    const e429 = new OciError("TOOMANYREQUESTS", "x", { retryable: true, retryAfterMs: 700 });
    expect(retryDelayFor(e429, policy, 0)).toBe(700);
    expect(retryDelayFor(new OciError("TOOMANYREQUESTS", "x", { retryable: true, retryAfterMs: 5000 }), policy, 0)).toBeUndefined();
    expect(retryDelayFor(new OciError("DENIED", "x"), policy, 0)).toBeUndefined();
    expect(retryDelayFor(new OciError("NETWORK", "x", { retryable: true }), policy, 3)).toBeUndefined();
  });
});

describe("errors", () => {
  it("maps status and registry codes", () => {
    const body = JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] });
    expect(errorFromStatus(404, "GET x", body, undefined)).toMatchObject({ code: "MANIFEST_UNKNOWN", status: 404, registryCode: "MANIFEST_UNKNOWN", retryable: false });
    expect(errorFromStatus(429, "GET x", "", 3000)).toMatchObject({ code: "TOOMANYREQUESTS", retryable: true, retryAfterMs: 3000 });
    expect(errorFromStatus(503, "GET x", "", undefined)).toMatchObject({ code: "UPSTREAM_5XX", retryable: true });
    expect(errorFromStatus(501, "GET x", "", undefined)).toMatchObject({ code: "UPSTREAM_5XX", retryable: false });
    expect(errorFromStatus(403, "GET x", JSON.stringify({ errors: [{ code: "DENIED" }] }), undefined)).toMatchObject({ code: "DENIED", registryCode: "DENIED" });
    expect(appCodeOf("MANIFEST_UNKNOWN")).toBe("NOT_FOUND");
    expect(appCodeOf("TIMEOUT")).toBe("UPSTREAM_TIMEOUT");
    expect(new OciError("DIGEST_MISMATCH", "x").appCode).toBe("DIGEST_MISMATCH");
  });
  it("redacts signed URLs", () => {
    expect(redactUrl("https://s3.example.com/bucket/blob?X-Amz-Signature=secret#x")).toBe("https://s3.example.com/bucket/blob");
  });
});

describe("token cache", () => {
  it("expires tokens early and de-duplicates fetches", async () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      return { token: `t${fetches}`, expiresIn: 300 };
    };
    const [a, b] = await Promise.all([cache.getOrFetch("k", fetch), cache.getOrFetch("k", fetch)]);
    expect([a, b, fetches]).toEqual(["t1", "t1", 1]);
    now = 289_000;
    expect(cache.get("k")).toBe("t1");
    now = 291_000; // within the 10 s skew
    expect(cache.get("k")).toBeUndefined();
    expect(await cache.getOrFetch("k", fetch)).toBe("t2");
  });
});

describe("cosign and referrers tags", () => {
  it("builds and recognises tags", () => {
    expect(referrersTag(D)).toBe(`sha256-${"a".repeat(64)}`);
    expect(cosignTag(D, "sig")).toBe(`sha256-${"a".repeat(64)}.sig`);
    expect(cosignTags(D)).toHaveLength(3);
    expect(parseAttachedTag(`sha256-${"a".repeat(64)}.att`)).toEqual({ subject: D, kind: "att" });
    expect(parseAttachedTag(`sha256-${"a".repeat(64)}`)).toEqual({ subject: D, kind: "referrers" });
    expect(parseAttachedTag("sha256-abc.sig")).toBeUndefined();
    expect(parseAttachedTag("v1.0")).toBeUndefined();
  });
});

describe("client options", () => {
  it.each([
    [{ url: "ftp://x" }, /url must be the registry root/],
    [{ url: "https://x/v2/" }, /url must be the registry root/],
    [{ url: "https://x", maxConcurrentRequests: 0 }, /maxConcurrentRequests/],
    [{ url: "https://x", tls: { cert: "c" } }, /tls.cert and tls.key/],
    [{ url: "https://x", credentials: { username: "u", password: "p" }, dockerConfig: true }, /only one of/],
    [{ url: "https://x", retry: { retryDelayMs: 500, maxRetryDelayMs: 100 } }, /maxRetryDelayMs must be at least/],
    [{ url: "https://x", bogus: 1 }, /bogus|Unrecognized/],
  ])("rejects %j", (opts, msg) => {
    expect(() => new RegistryClient(opts as never)).toThrow(msg);
    try {
      new RegistryClient(opts as never);
    } catch (e) {
      expect((e as OciError).code).toBe("OPTIONS_INVALID");
    }
  });
  it("never echoes secrets from invalid options", () => {
    expect(() => new RegistryClient({ url: "nope", credentials: { username: "u", password: "hunter2" } })).toThrow(expect.not.objectContaining({ message: expect.stringContaining("hunter2") }));
  });
});
