/**
 * The url health probe: a registry with two urls, no sync and no pull. The first url is a real
 * docker-registry, the second a closed loopback port. Started by startMirror, the probe gives both
 * origins a row through the passive recorder (UP, and DOWN with the connection error); a url checked within the interval is not
 * probed again, one checked longer ago is. A url that accepts connections and never answers is
 * written DOWN by the probe itself once its timeout passes.
 */
import diagnostics from "node:diagnostics_channel";
import net, { type AddressInfo } from "node:net";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../lib/config";
import { startMirror, type Mirror } from "../../../lib/mirror";
import { startUrlProbe } from "../../../lib/mirror/url-probe";
import { createLogger } from "../../../lib/observability";
import { boot, type Runtime } from "../../../lib/runtime";
import { createSyncService, MemoryTagState, parseRegistryConfig } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { waitFor } from "../../helpers/wait";

interface HealthRow {
  origin: string;
  status: string;
  last_error: string | null;
  last_checked_at: Date;
}

/**
 * Counts `GET /v2/` requests this process sends to `origin`, from undici's diagnostics channel
 * `undici:request:create` (the same kind of feed the recorder listens to): no proxy needed.
 */
function countPings(origin: string): { count(): number; stop(): void } {
  let n = 0;
  const channel = diagnostics.channel("undici:request:create");
  const onCreate = (message: unknown) => {
    const { request } = message as { request: { origin?: string | URL; path?: string; method?: string } };
    if (request.origin && new URL(String(request.origin)).origin === origin && request.path === "/v2/" && request.method === "GET") n++;
  };
  channel.subscribe(onCreate);
  return { count: () => n, stop: () => channel.unsubscribe(onCreate) };
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe.skipIf(!registryAvailable())("url health probe", () => {
  let tmp: string;
  let tdb: TestDatabase;
  let registry: TestRegistry;
  let pings: ReturnType<typeof countPings>;
  let runtime: Runtime;
  let mirror: Mirror;
  let up: string;
  let down: string;

  const rows = async () =>
    mirror.sql.query<HealthRow>("SELECT origin, status, last_error, last_checked_at FROM upstream_url_health WHERE origin = ANY($1::text[]) ORDER BY origin", [up, down]);

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-url-probe-"));
    await chmod(tmp, 0o755);
    tdb = await createTestDatabase();
    registry = await startRegistry();
    up = registry.url;
    pings = countPings(up);
    down = `http://127.0.0.1:${await closedPort()}`;
    const configFile = path.join(tmp, "ferry.config.json");
    // On demand only, no pollInterval: no sync runs, and the test pulls nothing.
    await writeFile(
      configFile,
      JSON.stringify({ registries: [{ name: "two-urls", urls: [up, down], onDemand: true, tlsVerify: false, maxRetries: 0, content: [{ prefix: "apps/**" }] }] }),
    );
    const config = loadConfig({
      file: configFile,
      cwd: tmp,
      env: { DATABASE_URL: tdb.url, FERRY_STORE_DIR: path.join(tmp, "store"), FERRY_DATA_DIR: path.join(tmp, "data"), FERRY_LOG_LEVEL: "silent" },
    });
    runtime = await boot({ config, log: createLogger({ level: "silent" }) });
    // A long interval: the first round runs at start (no first delay), the next not within this test.
    mirror = await startMirror(runtime, { workers: 0, urlProbeIntervalMs: 600_000, urlProbeFirstDelayMs: 0 });
  }, 60_000);

  afterAll(async () => {
    await mirror?.stop(5000);
    await runtime?.shutdown();
    pings?.stop();
    await registry?.stop();
    await tdb?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("gives both urls a row: the running registry UP, the closed port DOWN with the error", async () => {
    const got = await waitFor("both urls' health rows", async () => {
      const r = await rows();
      return r.length === 2 ? r : null;
    }, 30_000);
    const byOrigin = new Map(got.map((r) => [r.origin, r]));
    expect(byOrigin.get(up)).toMatchObject({ status: "UP", last_error: null });
    expect(byOrigin.get(down)).toMatchObject({ status: "DOWN" });
    expect(byOrigin.get(down)!.last_error).toMatch(/ECONNREFUSED/);
    expect(pings.count()).toBe(1);
  }, 60_000);

  it("does not probe a url checked within the interval, and probes it again once the interval has passed", async () => {
    const before = pings.count();
    // Another process's probe with the same interval: the rows are fresh, nothing is sent.
    const same = startUrlProbe({ sql: mirror.sql, log: runtime.log, registries: () => mirror.services.all(), intervalMs: 600_000 });
    await same.round();
    await same.stop();
    expect(pings.count()).toBe(before);

    // With a 1 ms interval every row is stale: the url is probed again.
    const short = startUrlProbe({ sql: mirror.sql, log: runtime.log, registries: () => mirror.services.all(), intervalMs: 1 });
    await short.round();
    await short.stop();
    expect(pings.count()).toBeGreaterThan(before);
  }, 60_000);

  it("writes a url that accepts connections but never answers DOWN when the probe times out", async () => {
    // Holds every connection open and never answers.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const hang = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const config = parseRegistryConfig({ name: "silent", urls: [hang], onDemand: true, tlsVerify: false, maxRetries: 0, content: [{ prefix: "apps/**" }] });
    const service = createSyncService(config, { store: runtime.store, registryId: "00000000-0000-4000-8000-000000000001", tagState: new MemoryTagState() });
    // The recorder writes only registries' origins: this one is not in the config, so any row
    // for it below was written by the probe.
    const probe = startUrlProbe({
      sql: mirror.sql,
      log: runtime.log,
      registries: async () => [{ id: "silent", name: "silent", enabled: true, ordinal: 99, config, service }],
      intervalMs: 600_000,
      timeoutMs: 300,
    });
    try {
      await probe.round();
      const [row] = await mirror.sql.query<HealthRow>("SELECT origin, status, last_error, last_checked_at FROM upstream_url_health WHERE origin = $1", hang);
      expect(row).toMatchObject({ status: "DOWN", last_error: "no answer to GET /v2/ within 300 ms" });
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      await probe.stop();
      await service.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 30_000);
});
