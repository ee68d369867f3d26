/**
 * Postgres stopped and started again in the middle of a round: Ferry reconnects by itself
 * (queries, LISTEN, generator leadership) and the round completes without anyone touching it.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, migrate, startEmbeddedPostgres, type EmbeddedPostgresHandle } from "../../../lib/db";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";

const REPOS = Array.from({ length: 8 }, (_, i) => `app/r${i}`);

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[] | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return (await c.query<T>(sql)).rows;
  } catch {
    return null;
  } finally {
    await c.end().catch(() => {});
  }
}

describe.skipIf(!registryAvailable())("Postgres restarted mid-round", () => {
  let tmp: string;
  let pgHandle: EmbeddedPostgresHandle;
  let port: number;
  let registry: TestRegistry;
  let proxy: UpstreamProxy;
  let ferry: FerryProcess;

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-pgrestart-"));
    await chmod(tmp, 0o755);
    port = await freePort();
    pgHandle = await startEmbeddedPostgres({ dir: path.join(tmp, "pg"), port });
    await migrate(pgHandle.url);
    registry = await startRegistry();
    for (const repo of REPOS) await pushImage(registry, repo, "1", { layers: [2048] });
    proxy = await startUpstreamProxy(registry.url);
    proxy.delay = (method, p) => (method === "GET" && p.includes("/blobs/") ? 400 : 0);
    const configFile = path.join(tmp, "ferry.config.json");
    await writeFile(
      configFile,
      JSON.stringify({ registries: [{ name: "up", urls: [proxy.url], pollInterval: "1h", tlsVerify: false, maxRetries: 5, retryDelay: "200ms", content: [{ prefix: "app/**" }] }] }),
    );
    ferry = await startFerry({
      DATABASE_URL: pgHandle.url,
      FERRY_CONFIG: configFile,
      FERRY_STORE_DIR: path.join(tmp, "store"),
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_WORKERS: "2",
      FERRY_TASK_LEASE_MS: "1500",
      FERRY_GENERATOR_TICK_MS: "200",
      FERRY_LOG_LEVEL: process.env.FERRY_TEST_LOG_LEVEL ?? "warn",
    });
  }, 600_000);

  afterAll(async () => {
    await ferry?.stop("SIGKILL");
    await pgHandle?.stop();
    await proxy?.close();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it("reconnects and finishes the round", { timeout: 180_000 }, async () => {
    const deadline = Date.now() + 60_000;
    // Wait until the round is under way (some tasks done, not all).
    for (;;) {
      const rows = await query<{ n: number }>(pgHandle.url, `SELECT count(*)::int AS n FROM task WHERE status = 'succeeded'`);
      if (rows && rows[0]!.n >= 1) break;
      if (Date.now() > deadline) throw new Error("round did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
    await pgHandle.stop();
    await new Promise((r) => setTimeout(r, 2000));
    pgHandle = await startEmbeddedPostgres({ dir: path.join(tmp, "pg"), port });
    proxy.delay = () => 0;
    let state: Array<{ status: string; n: number }> | null = null;
    for (;;) {
      const g = await query<{ round_ended_at: Date | null }>(pgHandle.url, `SELECT round_ended_at FROM generator_state`);
      if (g && g[0]?.round_ended_at) break;
      if (Date.now() > deadline + 20_000) {
        const tasks = await query(pgHandle.url, `SELECT repository, status, attempts, error_code, error_message, lease_until FROM task ORDER BY id`);
        const gen = await query(pgHandle.url, `SELECT * FROM generator_state`);
        await writeFile(path.join(os.tmpdir(), "ferry-pg-restart.log"), ferry.output());
        throw new Error(`round did not finish (Ferry output in ${os.tmpdir()}/ferry-pg-restart.log): ${JSON.stringify({ tasks, gen })}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    state = await query<{ status: string; n: number }>(pgHandle.url, `SELECT status, count(*)::int AS n FROM task WHERE kind = 'syncRepo' GROUP BY status`);
    expect(state).toEqual([{ status: "succeeded", n: REPOS.length }]);
    const tags = await fetch(`${ferry.url}/v2/app/r7/tags/list`);
    expect(await tags.json()).toEqual({ name: "app/r7", tags: ["1"] });
    expect(ferry.child.exitCode).toBeNull();
  });
});
