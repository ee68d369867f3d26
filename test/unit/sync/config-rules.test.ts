import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ContentRules, filterTags, literalPrefix, parseRegistryConfig, platformMatches, parsePlatform, selectLatest, SortedCatalog } from "../../../lib/sync";
import { parseDuration } from "../../../lib/sync/duration";
import { mapLimit, Semaphore } from "../../../lib/concurrency";
import { TLS } from "../../helpers/tls-fixtures";

function issuesOf(input: unknown): Array<{ path: string; message: string }> {
  try {
    parseRegistryConfig(input);
  } catch (err) {
    expect((err as { code: string }).code).toBe("CONFIG_INVALID");
    return (err as { details: { issues: Array<{ path: string; message: string }> } }).details.issues;
  }
  throw new Error("expected CONFIG_INVALID");
}

describe("parseRegistryConfig", () => {
  it("applies defaults and converts durations", () => {
    const c = parseRegistryConfig({ name: "hub", urls: ["https://registry-1.docker.io"], pollInterval: "6h", retryDelay: "500ms" });
    expect(c).toMatchObject({
      name: "hub",
      onDemand: false,
      tlsVerify: true,
      maxRetries: 3,
      retryDelayMs: 500,
      pollIntervalMs: 6 * 3600_000,
      syncTimeoutMs: 3 * 3600_000,
      syncLegacyCosignTags: true,
      convertToOCI: false,
      onlySigned: false,
      maxConcurrentRequests: 8,
      content: [],
    });
    expect(parseRegistryConfig({ name: "a", urls: ["http://x:5000"], syncTimeout: 90_000 }).syncTimeoutMs).toBe(90_000);
  });

  it("names the field of every problem", () => {
    const issues = issuesOf({
      name: "bad name!",
      urls: ["ftp://x", "https://ok.example/path"],
      pollInterval: "soon",
      content: [{ prefix: "a/**", tags: { regex: "(" } }, { prefix: "b", stripPrefix: true, platforms: ["linux"] }],
      bogus: 1,
    });
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["name", "urls[0]", "urls[1]", "pollInterval", "content[0].tags.regex", "content[1].platforms[0]", "content[1].stripPrefix"]));
    expect(issues.find((i) => i.path === "content[0].tags.regex")!.message).toMatch(/regular expression/);
    expect(issues.some((i) => /bogus/.test(i.message))).toBe(true);
  });

  it("never puts credentials into the message", () => {
    try {
      parseRegistryConfig({ name: "x", urls: ["https://r.example"], credentials: { username: "u", password: "hunter2", extra: 1 } });
      throw new Error("expected failure");
    } catch (err) {
      expect((err as Error).message).not.toContain("hunter2");
      expect((err as Error).message).toMatch(/credentials/);
    }
  });

  it("rejects semver ranges, latest and cert pairs that make no sense", () => {
    expect(issuesOf({ name: "x", urls: ["https://r.example"], content: [{ prefix: "**", tags: { semver: "not a range ((" } }] })[0]!.path).toBe("content[0].tags.semver");
    expect(issuesOf({ name: "x", urls: ["https://r.example"], content: [{ prefix: "**", tags: { latest: 0 } }] })[0]!.path).toMatch(/^content\[0\]\.tags\.latest/);
    expect(issuesOf({ name: "x", urls: ["https://r.example"], clientCert: "PEM" })[0]!.path).toBe("clientCert");
    expect(issuesOf({ name: "x", urls: ["https://r.example", "https://r.example/"] })[0]!.path).toBe("urls[1]");
  });

  it("parses TLS material when the registry is saved, never echoing it", () => {
    const base = { name: "x", urls: ["https://r.example"] };
    expect(parseRegistryConfig({ ...base, ...TLS })).toMatchObject({ caCert: TLS.caCert, clientCert: TLS.clientCert });
    // A bundle of two certificates is fine; one bad block among good ones is not.
    expect(parseRegistryConfig({ ...base, caCert: TLS.caCert + TLS.clientCert }).caCert).toContain("BEGIN CERTIFICATE");
    const bad = issuesOf({ ...base, caCert: TLS.caCert + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" });
    expect(bad).toEqual([{ path: "caCert", message: "caCert: certificate 2 is not a valid PEM certificate" }]);
    expect(issuesOf({ ...base, caCert: "just text" })[0]).toMatchObject({ path: "caCert", message: expect.stringMatching(/at least one PEM certificate/) });
    const garbageKey = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n";
    const keyIssues = issuesOf({ ...base, clientCert: TLS.clientCert, clientKey: garbageKey });
    expect(keyIssues.map((i) => i.path)).toEqual(["clientKey"]);
    expect(JSON.stringify(keyIssues)).not.toContain("SECRETSECRET");
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(issuesOf({ ...base, clientCert: TLS.clientCert, clientKey: other })).toEqual([{ path: "clientKey", message: "clientKey does not match clientCert" }]);
  });

  it("parses durations like zot", () => {
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("1x")).toBeUndefined();
  });
});

describe("content rules", () => {
  const rules = new ContentRules(
    parseRegistryConfig({
      name: "x",
      urls: ["https://r.example"],
      content: [
        { prefix: "library/*", destination: "/hub", stripPrefix: true },
        { prefix: "team/**", destination: "mirror" },
        { prefix: "exact/repo", destination: "solo", stripPrefix: true },
        { prefix: "**" },
      ],
    }).content,
  );

  it("maps upstream to local with the first matching rule", () => {
    expect(rules.localRepoFor("library/alpine")).toBe("hub/alpine");
    expect(rules.localRepoFor("library/a/b")).toBe("library/a/b"); // * does not cross '/': falls to **
    expect(rules.localRepoFor("team/x/y")).toBe("mirror/team/x/y");
    expect(rules.localRepoFor("exact/repo")).toBe("solo");
    expect(rules.localRepoFor("other")).toBe("other");
  });

  it("inverts the mapping for on-demand names, and only where forward mapping agrees", () => {
    for (const up of ["library/alpine", "team/x/y", "exact/repo", "other", "library/a/b"]) {
      expect(rules.upstreamRepoFor(rules.localRepoFor(up)!)).toBe(up);
    }
    // "hub/x/y" would be library/x/y upstream, which maps to library/x/y locally, not hub/x/y.
    expect(rules.upstreamRepoFor("hub/x/y")).toBe("hub/x/y");
    const strict = new ContentRules(parseRegistryConfig({ name: "x", urls: ["https://r.example"], content: [{ prefix: "library/*", destination: "hub", stripPrefix: true }] }).content);
    expect(strict.upstreamRepoFor("hub/x/y")).toBeNull();
    expect(strict.upstreamRepoFor("nothing")).toBeNull();
    expect(strict.matches("library/alpine")).toBe(true);
    expect(strict.matches("team/alpine")).toBe(false);
  });

  it("without rules mirrors everything under the same name", () => {
    const all = new ContentRules([]);
    expect(all.localRepoFor("a/b/c")).toBe("a/b/c");
    expect(all.upstreamRepoFor("a/b/c")).toBe("a/b/c");
  });

  it("literalPrefix stops at the first glob character", () => {
    expect(literalPrefix("/library/**")).toBe("library");
    expect(literalPrefix("a/b*")).toBe("a/b");
    expect(literalPrefix("exact")).toBe("exact");
  });

  it("filters tags regex → excludeRegex → semver, each with a reason", () => {
    const tags = ["latest", "1.2.3", "v1.3.0", "1.4.0-rc1", "2.0.0", "1.2.3-debug", "1.5"];
    const decided = filterTags(tags, { regex: "^v?[0-9]", excludeRegex: "-debug$", semver: ">=1.2 <2" });
    const kept = decided.filter((d) => d.keep).map((d) => d.tag);
    expect(kept).toEqual(["1.2.3", "v1.3.0", "1.4.0-rc1", "1.5"]);
    const reasons = Object.fromEntries(decided.filter((d) => !d.keep).map((d) => [d.tag, (d as { reason: string }).reason]));
    expect(reasons.latest).toMatch(/tags.regex/);
    expect(reasons["1.2.3-debug"]).toMatch(/excludeRegex/);
    expect(reasons["2.0.0"]).toMatch(/outside tags.semver/);
    expect(filterTags(["a", "1.0.0"], { semver: true }).map((d) => d.keep)).toEqual([false, true]);
    expect(filterTags(["a"], undefined)[0]!.keep).toBe(true);
  });

  it("keeps the N newest by semver or by created time", async () => {
    const bySemver = await selectLatest(["1.0.0", "latest", "1.10.0", "1.9.0", "v2.0.0"], { count: 2, by: "semver" });
    expect(bySemver.kept).toEqual(["v2.0.0", "1.10.0"]);
    expect(bySemver.dropped.map((d) => d.tag).sort()).toEqual(["1.0.0", "1.9.0", "latest"]);
    const times: Record<string, number> = { a: 3, b: 1, c: 2 };
    const byCreated = await selectLatest(["a", "b", "c", "d"], { count: 2, by: "created" }, async (t) => times[t]);
    expect(byCreated.kept).toEqual(["a", "c"]);
  });

  it("matches platforms with arm variant normalisation", () => {
    const want = ["linux/amd64", "linux/arm64/v8"].map(parsePlatform);
    expect(platformMatches({ os: "linux", architecture: "amd64" }, want)).toBe(true);
    expect(platformMatches({ os: "linux", architecture: "arm64" }, want)).toBe(true);
    expect(platformMatches({ os: "linux", architecture: "arm", variant: "v7" }, want)).toBe(false);
    expect(platformMatches(undefined, want)).toBe(false);
    expect(platformMatches({ os: "linux", architecture: "arm64", variant: "v8" }, [parsePlatform("linux/arm64")])).toBe(true);
  });
});

describe("SortedCatalog", () => {
  it("finds the next name after any cursor by binary search", () => {
    const cat = new SortedCatalog(["b/x", "a", "c", "b", "a"]);
    expect(cat.toArray()).toEqual(["a", "b", "b/x", "c"]);
    expect(cat.nextAfter("")).toBe("a");
    expect(cat.nextAfter("a")).toBe("b");
    expect(cat.nextAfter("b")).toBe("b/x");
    expect(cat.nextAfter("az")).toBe("b"); // a cursor no longer in the catalog still resumes correctly
    expect(cat.nextAfter("c")).toBe("");
    expect(new SortedCatalog([]).nextAfter("")).toBe("");
  });

  it("walks a large catalog in n lookups", () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `repo/${String(i).padStart(5, "0")}`);
    const cat = new SortedCatalog(names);
    let last = "";
    let n = 0;
    for (let next = cat.nextAfter(last); next !== ""; next = cat.nextAfter(last)) {
      last = next;
      n++;
    }
    expect(n).toBe(10_000);
  });
});

describe("limits", () => {
  it("Semaphore bounds concurrency and mapLimit waits for running work before throwing", async () => {
    const sem = new Semaphore(2);
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        sem.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
    const finished: number[] = [];
    await expect(
      mapLimit([0, 1, 2, 3], 2, async (i) => {
        if (i === 0) throw new Error("boom");
        await new Promise((r) => setTimeout(r, 10));
        finished.push(i);
      }),
    ).rejects.toThrow("boom");
    expect(finished).toEqual([1]); // item 1 was running and settled; 2 and 3 never started
  });
});
