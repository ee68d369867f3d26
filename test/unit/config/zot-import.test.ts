/**
 * A zot config with every documented sync field imports into Ferry registries that validate; what
 * cannot be mapped is reported by path; loadConfig accepts the zot file as Ferry's config.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importZotConfig, loadConfig, looksLikeZotConfig } from "../../../lib/config";
import { parseRegistryConfig } from "../../../lib/sync";
import { TLS } from "../../helpers/tls-fixtures";

const ZOT = {
  distSpecVersion: "1.1.0",
  storage: { rootDirectory: "/var/lib/zot", gc: true },
  http: { address: "127.0.0.1", port: "8080", realm: "zot" },
  log: { level: "debug", output: "/var/log/zot.log" },
  extensions: {
    search: { enable: true },
    sync: {
      enable: true,
      credentialsFile: "./credentials.json",
      downloadDir: "/tmp/zot-sync",
      registries: [
        {
          urls: ["https://registry1:5000", "https://registry1-mirror:5000"],
          onDemand: false,
          pollInterval: "6h",
          tlsVerify: true,
          certDir: "./certs/registry1",
          maxRetries: 3,
          retryDelay: "5m",
          onlySigned: true,
          preserveDigest: true,
          content: [
            { prefix: "/repo1/repo", tags: { regex: "4.*", semver: true } },
            { prefix: "/repo1/repo", destination: "/repo", stripPrefix: true },
            { prefix: "/repo2/repo", destination: "/repo2", tags: { excludeRegex: ".*-rc", strict: true } },
          ],
        },
        { urls: ["http://registry2:5000"], onDemand: true, tlsVerify: false, content: [{ prefix: "/repo2", tags: { semver: true } }], mystery: 1 },
        { urls: ["https://docker.io/library"], onDemand: true, tlsVerify: true, maxRetries: 6, retryDelay: "5m" },
        { urls: ["http://registry2:5000"], onDemand: true },
        { onDemand: true },
      ],
    },
  },
};

describe("zot config import", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ferry-zot-"));
    await writeFile(path.join(dir, "credentials.json"), JSON.stringify({ "registry1:5000": { username: "user1", password: "pass1" }, registry2: { username: "u2", password: "p2" } }));
    await mkdir(path.join(dir, "certs", "registry1"), { recursive: true });
    await writeFile(path.join(dir, "certs", "registry1", "ca.crt"), TLS.caCert);
    await writeFile(path.join(dir, "zot.json"), JSON.stringify(ZOT));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("maps every sync field and reports what it cannot", () => {
    expect(looksLikeZotConfig(ZOT)).toBe(true);
    expect(looksLikeZotConfig({ registries: [] })).toBe(false);
    const { config, report } = importZotConfig(ZOT, dir);
    const regs = config.registries as Array<Record<string, unknown>>;
    expect(regs.map((r) => r.name)).toEqual(["registry1-5000", "registry2-5000", "docker.io", "registry2-5000-2"]);
    expect(regs[0]).toMatchObject({
      urls: ["https://registry1:5000", "https://registry1-mirror:5000"],
      onDemand: false,
      pollInterval: "6h",
      tlsVerify: true,
      maxRetries: 3,
      retryDelay: "5m",
      onlySigned: true,
      caCert: expect.stringContaining("BEGIN CERTIFICATE"),
      credentials: { username: "user1", password: "pass1" },
      content: [
        { prefix: "/repo1/repo", tags: { regex: "4.*", semver: true } },
        { prefix: "/repo1/repo", destination: "/repo", stripPrefix: true },
        { prefix: "/repo2/repo", destination: "/repo2", tags: { excludeRegex: ".*-rc" } },
      ],
    });
    expect(regs[0]!.convertToOCI).toBeUndefined();
    // credentials keyed by host name without port match too
    expect(regs[1]).toMatchObject({ urls: ["http://registry2:5000"], onDemand: true, tlsVerify: false, credentials: { username: "u2", password: "p2" } });
    expect(config.server).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(config.logLevel).toBe("debug");
    const paths = report.map((n) => n.path);
    for (const p of [
      "storage",
      "http.realm",
      "log.output",
      "extensions.search",
      "extensions.sync.downloadDir",
      "extensions.sync.registries[0].content[2].tags.strict",
      "extensions.sync.registries[1].mystery",
      "extensions.sync.registries[1].preserveDigest",
      "extensions.sync.registries[4].urls",
    ]) expect(paths, p).toContain(p);
    expect(paths).not.toContain("extensions.sync.registries[0].preserveDigest");
    expect(paths).toContain("extensions.sync.registries[2].urls[0]");
    expect(regs[2]!.urls).toEqual(["https://docker.io"]);
    expect(regs[0]!.maxRetryDelay).toBe("5m");
    // Every imported registry is a valid Ferry registry.
    for (const r of regs) expect(() => parseRegistryConfig(r)).not.toThrow();
  });

  it("loadConfig accepts a zot file as Ferry's config and keeps the report", () => {
    const cfg = loadConfig({ env: {}, cwd: dir, file: path.join(dir, "zot.json") });
    expect(cfg.source.format).toBe("zot");
    expect(cfg.server.port).toBe(8080);
    expect(cfg.registries).toHaveLength(4);
    expect(cfg.source.importReport?.length).toBeGreaterThan(5);
  });

  it("imports nothing from a disabled sync block, and says so", () => {
    const { config, report } = importZotConfig({ extensions: { sync: { enable: false, registries: [{ urls: ["https://r:5000"] }] } } }, dir);
    expect(config.registries).toBeUndefined();
    expect(report.map((n) => n.path)).toContain("extensions.sync.enable");
  });
});
