/**
 * /metrics on a running Ferry (a real child process) mirroring a real docker-registry: scraped
 * during a round (a task running, the generator syncing) and after it (counters moved by exactly
 * what the task rows say), then /v2 pulls (requests, bytes, on-demand hit and miss), request ids
 * echoed, a SIGHUP that re-applies an edited config file, and every metric and label the shipped
 * Grafana dashboard and Prometheus alert rules (deploy/) query is one this Ferry exports.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { pushImage, type PushedManifest } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";
import { has, parseProm, value, type Sample } from "./prom";
import { waitFor } from "../../helpers/wait";

const REPOS = ["apps/one", "apps/two", "apps/slow"];
const TAGS = ["1.0", "2.0"];

describe.skipIf(!registryAvailable())("metrics, request ids and config reload on a running Ferry", () => {
  let tmp: string;
  let registry: TestRegistry;
  let proxy: UpstreamProxy;
  let tdb: TestDatabase;
  let db: Db;
  let ferry: FerryProcess;
  let configFile: string;
  let onDemandImage: PushedManifest;
  const config = (extra: object[] = []) => ({
    registries: [
      { name: "periodic", urls: [proxy.url], pollInterval: "1h", tlsVerify: false, content: [{ prefix: "apps/**" }] },
      { name: "lazy", urls: [proxy.url], onDemand: true, tlsVerify: false, maxRetries: 0, content: [{ prefix: "lazy/**" }] },
      ...extra,
    ],
  });

  async function scrape(): Promise<Sample[]> {
    const res = await fetch(`${ferry.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseProm(await res.text());
  }

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-metrics-"));
    await chmod(tmp, 0o755);
    registry = await startRegistry();
    for (const repo of REPOS) for (const tag of TAGS) await pushImage(registry, repo, tag, { layers: [8192, 1024] });
    onDemandImage = await pushImage(registry, "lazy/app", "v1", { layers: [4096] });
    proxy = await startUpstreamProxy(registry.url);
    configFile = path.join(tmp, "ferry.config.json");
    await writeFile(configFile, JSON.stringify(config()));
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    // Hold apps/slow's blobs so a scrape can see the round in progress.
    proxy.delay = (method, p) => (method === "GET" && p.startsWith("/v2/apps/slow/blobs/") ? 3000 : 0);
    ferry = await startFerry({
      DATABASE_URL: tdb.url,
      FERRY_CONFIG: configFile,
      FERRY_STORE_DIR: path.join(tmp, "store"),
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_WORKERS: "2",
      FERRY_GENERATOR_TICK_MS: "200",
      FERRY_LOG_LEVEL: "info",
    });
  }, 600_000);

  afterAll(async () => {
    await ferry?.stop("SIGKILL");
    await db?.$disconnect();
    await tdb?.drop();
    await proxy?.close();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("shows a round in progress: generator syncing, a task running", async () => {
    const during = await waitFor("a scrape with apps/slow running", async () => {
      const running = await db.task.findFirst({ where: { repository: "apps/slow", status: "running" } });
      if (!running) return null;
      const s = await scrape();
      return value(s, "ferry_tasks_running", { registry: "periodic" }) >= 1 ? s : null;
    });
    expect(value(during, "ferry_generator_phase", { registry: "periodic", phase: "syncing" })).toBe(1);
    expect(value(during, "ferry_generator_phase", { registry: "periodic", phase: "idle" })).toBe(0);
    expect(value(during, "ferry_generator_round", { registry: "periodic" })).toBe(1);
    expect(value(during, "ferry_registry_poll_interval_seconds", { registry: "periodic" })).toBe(3600);
    expect(value(during, "ferry_registry_poll_interval_seconds", { registry: "lazy" })).toBe(0);
    // Process metrics are there too, under Ferry's prefix.
    expect(has(during, "ferry_process_resident_memory_bytes")).toBe(true);
  });

  it("after the round, counters moved by exactly what the task rows record", async () => {
    await waitFor("round 1 to end", async () => {
      const g = await db.generatorState.findFirst({ where: { registry: { name: "periodic" } } });
      return g && g.round === 1 && g.roundEndedAt ? g : null;
    });
    proxy.delay = () => 0;
    const tasks = await db.task.findMany({ where: { registry: { name: "periodic" } } });
    expect(tasks).toHaveLength(REPOS.length);
    expect(tasks.every((t) => t.status === "succeeded")).toBe(true);
    const s = await scrape();
    expect(value(s, "ferry_tasks_total", { registry: "periodic", kind: "syncRepo", outcome: "succeeded" })).toBe(REPOS.length);
    expect(value(s, "ferry_tasks_total", { registry: "periodic", outcome: "failed" })).toBe(0);
    expect(value(s, "ferry_task_duration_seconds_count", { registry: "periodic", kind: "syncRepo" })).toBe(REPOS.length);
    expect(value(s, "ferry_images_total", { registry: "periodic", result: "synced" })).toBe(REPOS.length * TAGS.length);
    const bytes = tasks.reduce((a, t) => a + Number(t.bytesCopied), 0);
    expect(bytes).toBeGreaterThan(0);
    expect(value(s, "ferry_synced_bytes_total", { registry: "periodic" })).toBe(bytes);
    expect(value(s, "ferry_blobs_copied_total", { registry: "periodic" })).toBe(tasks.reduce((a, t) => a + t.blobsCopied, 0));
    expect(value(s, "ferry_blobs_skipped_total", { registry: "periodic" })).toBe(tasks.reduce((a, t) => a + t.blobsSkipped, 0));
    // Every upstream request went through the proxy; the counter agrees with what it saw.
    const upstream = new URL(proxy.url).host;
    expect(value(s, "ferry_upstream_requests_total", { upstream, status_class: "2xx" })).toBeGreaterThanOrEqual(REPOS.length * TAGS.length * 3);
    expect(value(s, "ferry_generator_phase", { registry: "periodic", phase: "waiting" })).toBe(1);
    expect(value(s, "ferry_generator_round_duration_seconds", { registry: "periodic" })).toBeGreaterThan(2);
    expect(value(s, "ferry_queue_depth", { registry: "periodic" })).toBe(0);
    expect(value(s, "ferry_tasks_running", { registry: "periodic" })).toBe(0);
    const fresh = value(s, "ferry_registry_seconds_since_last_success", { registry: "periodic" });
    expect(fresh).toBeGreaterThanOrEqual(0);
    expect(fresh).toBeLessThan(60);
    expect(value(s, "ferry_registry_last_success_timestamp_seconds", { registry: "periodic" })).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(value(s, "ferry_registry_enabled", { registry: "periodic" })).toBe(1);
    expect(value(s, "ferry_store_blobs")).toBeGreaterThan(0);
    expect(value(s, "ferry_store_bytes")).toBeGreaterThanOrEqual(bytes);
    // No repository or tag ever becomes a label.
    for (const sample of s) for (const v of Object.values(sample.labels)) expect(v).not.toMatch(/apps\/|lazy\//);
  });

  it("counts /v2 requests, bytes served and on-demand hits and misses", async () => {
    const before = await scrape();
    const stored = await fetch(`${ferry.url}/v2/apps/one/manifests/1.0`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json" } });
    const storedBody = Buffer.from(await stored.arrayBuffer());
    expect(stored.status).toBe(200);
    const lazy = await fetch(`${ferry.url}/v2/lazy/app/manifests/v1`, { headers: { accept: onDemandImage.mediaType } });
    const lazyBody = Buffer.from(await lazy.arrayBuffer());
    expect(lazy.status).toBe(200);
    const missing = await fetch(`${ferry.url}/v2/nowhere/manifests/v1`);
    await missing.arrayBuffer();
    expect(missing.status).toBe(404);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
    expect(delta("ferry_on_demand_total", { result: "hit" })).toBe(1);
    expect(delta("ferry_on_demand_total", { result: "miss" })).toBe(1);
    expect(delta("ferry_on_demand_total", { result: "unmapped" })).toBe(1);
    expect(delta("ferry_v2_requests_total", { route: "manifest", method: "GET", status_class: "2xx" })).toBe(2);
    expect(delta("ferry_v2_requests_total", { route: "manifest", method: "GET", status_class: "4xx" })).toBe(1);
    expect(delta("ferry_v2_served_bytes_total", { route: "manifest" })).toBe(storedBody.length + lazyBody.length);
    expect(delta("ferry_tasks_total", { registry: "lazy", kind: "syncImage", outcome: "succeeded" })).toBe(1);
  });

  it("echoes a sane x-request-id and makes one up otherwise", async () => {
    const mine = await fetch(`${ferry.url}/api/health`, { headers: { "x-request-id": "req-abc.123" } });
    await mine.arrayBuffer();
    expect(mine.headers.get("x-request-id")).toBe("req-abc.123");
    const hostile = await fetch(`${ferry.url}/v2/`, { headers: { "x-request-id": "bad id with spaces\u00e9" } });
    await hostile.arrayBuffer();
    expect(hostile.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("exports every metric and label that deploy/'s Grafana dashboard and alert rules query", async () => {
    const text = await (await fetch(`${ferry.url}/metrics`)).text();
    // Every family is announced by a TYPE line, samples or not; histograms add their series suffixes.
    const families = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const exported = new Set([...families].flatMap(([name, type]) => (type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name])));
    const samples = parseProm(text);
    const dashboard = JSON.parse(await readFile("deploy/grafana/ferry-dashboard.json", "utf8")) as unknown;
    const exprs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "expr" && typeof x === "string") exprs.push(x);
          else walk(x);
        }
      }
    };
    walk(dashboard);
    const rules = await readFile("deploy/alerts.yml", "utf8");
    exprs.push(rules);
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bferry_[a-z0-9_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !exported.has(n)).sort()).toEqual([]);
    // A label matcher on a metric (`name{label=…}`) names a label that metric's samples carry.
    const matchers = exprs.flatMap((e) => [...e.matchAll(/\b(ferry_[a-z0-9_]+)\{([^}]*)\}/g)].flatMap((m) => [...m[2]!.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)].map((l) => [m[1]!, l[1]!] as const)));
    expect(matchers.length).toBeGreaterThan(5);
    const unknown = matchers.filter(([name, label]) => samples.some((s) => s.name === name) && !samples.some((s) => s.name === name && label in s.labels));
    expect(unknown).toEqual([]);
  });

  it("SIGHUP re-reads the config file: new registries created, removed ones disabled", async () => {
    await writeFile(configFile, JSON.stringify({ registries: [config().registries[0], { name: "added", urls: [proxy.url], onDemand: true, tlsVerify: false }] }));
    ferry.child.kill("SIGHUP");
    await waitFor("the reload", async () => {
      const rows = await db.registry.findMany({ orderBy: { name: "asc" } });
      const by = Object.fromEntries(rows.map((r) => [r.name, r.enabled]));
      return by.added === true && by.lazy === false && by.periodic === true ? rows : null;
    }, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${ferry.output().slice(-3000)}`);
    });
    // The rows change before the process logs the reload (and its stdout reaches us): wait for the line.
    await waitFor("the reload to be logged", async () => /configuration reloaded/.test(ferry.output()), 20_000);
    // A broken file changes nothing and Ferry keeps running.
    await writeFile(configFile, JSON.stringify({ registries: [{ name: "broken", urls: ["not a url"] }] }));
    ferry.child.kill("SIGHUP");
    await waitFor("the failed reload to be logged", async () => /configuration reload failed/.test(ferry.output()), 20_000);
    expect(await db.registry.count({ where: { name: "broken" } })).toBe(0);
    expect((await fetch(`${ferry.url}/api/health`)).status).toBe(200);
    const s = await scrape();
    expect(value(s, "ferry_registry_enabled", { registry: "lazy" })).toBe(0);
  });
});
