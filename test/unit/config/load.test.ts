import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../lib/config";
import type { AppError } from "../../../lib/errors";

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    return err as AppError;
  }
  throw new Error("expected loadConfig to throw");
}

describe("loadConfig", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ferry-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("has sensible defaults: port 3000, embedded Postgres under ./.ferry/pg", () => {
    const cfg = loadConfig({ env: {}, cwd: dir });
    expect(cfg.server.port).toBe(3000);
    expect(cfg.database.url).toBeUndefined();
    expect(cfg.paths.embeddedPgDir).toBe(path.join(dir, ".ferry", "pg"));
    expect(cfg.paths.storeRoot).toBe(path.join(dir, ".ferry", "store"));
  });

  it("names the key, the value and what is expected", () => {
    const err = failure(() => loadConfig({ env: { FERRY_PORT: "garbage" }, cwd: dir }));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toBe('Invalid configuration: FERRY_PORT="garbage": expected a port number between 1 and 65535');
    expect(failure(() => loadConfig({ env: { FERRY_LOG_LEVEL: "loud" }, cwd: dir })).message).toMatch(/FERRY_LOG_LEVEL="loud".*one of trace/);
    expect(failure(() => loadConfig({ env: { DATABASE_URL: "mysql://u:pw@h/db" }, cwd: dir })).message).toMatch(/DATABASE_URL=.*postgres:\/\//);
  });

  it("reads the url probe interval: 60 s by default, 0 turns it off, 1..999 ms is refused", () => {
    expect(loadConfig({ env: {}, cwd: dir }).scheduler.urlProbeIntervalMs).toBe(60_000);
    expect(loadConfig({ env: { FERRY_URL_PROBE_INTERVAL_MS: "0" }, cwd: dir }).scheduler.urlProbeIntervalMs).toBe(0);
    expect(loadConfig({ env: { FERRY_URL_PROBE_INTERVAL_MS: "300000" }, cwd: dir }).scheduler.urlProbeIntervalMs).toBe(300_000);
    expect(failure(() => loadConfig({ env: { FERRY_URL_PROBE_INTERVAL_MS: "50" }, cwd: dir })).message).toBe(
      'Invalid configuration: FERRY_URL_PROBE_INTERVAL_MS="50": expected 0 (off) or at least 1000 ms',
    );
  });

  it("never echoes a password from a connection URL", () => {
    const err = failure(() => loadConfig({ env: { DATABASE_URL: "mysql://user:hunter2@host/db" }, cwd: dir }));
    expect(err.message).not.toContain("hunter2");
  });

  it("rejects unknown FERRY_ variables: a typo must not be ignored", () => {
    expect(failure(() => loadConfig({ env: { FERRY_PROT: "3000" }, cwd: dir })).message).toMatch(/FERRY_PROT=/);
  });

  it("reads ferry.config.json and YAML, and the environment wins", async () => {
    await writeFile(path.join(dir, "ferry.config.json"), JSON.stringify({ server: { port: 4000 }, logLevel: "debug" }));
    expect(loadConfig({ env: {}, cwd: dir }).server.port).toBe(4000);
    expect(loadConfig({ env: { FERRY_PORT: "4100" }, cwd: dir }).server.port).toBe(4100);
    const yaml = path.join(dir, "other.yaml");
    await writeFile(yaml, "server:\n  port: 4200\nstorage:\n  root: /srv/ferry\n");
    const cfg = loadConfig({ env: { FERRY_CONFIG: yaml }, cwd: dir });
    expect(cfg.server.port).toBe(4200);
    expect(cfg.paths.storeRoot).toBe("/srv/ferry");
    await rm(path.join(dir, "ferry.config.json"));
  });

  it("points at the file and the key for a bad file value", async () => {
    const file = path.join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ server: { port: 70000 } }));
    expect(failure(() => loadConfig({ env: { FERRY_CONFIG: file }, cwd: dir })).message).toBe(
      "Invalid configuration: bad.json: server.port=70000: expected a port number between 1 and 65535",
    );
    await writeFile(file, JSON.stringify({ servre: {} }));
    expect(failure(() => loadConfig({ env: { FERRY_CONFIG: file }, cwd: dir })).message).toMatch(/unknown key\(s\) servre/);
    await writeFile(file, "{ not json");
    expect(failure(() => loadConfig({ env: { FERRY_CONFIG: file }, cwd: dir })).message).toMatch(/cannot parse/);
  });
});
