import { statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, readMigrations } from "../../../lib/db";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { runFerry, startFerry } from "../../helpers/ferry-process";

async function count(url: string, sql: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query<{ n: string }>(sql)).rows[0]!.n);
  } finally {
    await c.end();
  }
}

/** Queries the embedded Postgres of a running Ferry, found through its data directory. */
async function embeddedQuery(dataDir: string, sql: string): Promise<unknown[]> {
  const creds = JSON.parse(await readFile(path.join(dataDir, "pg.credentials.json"), "utf8")) as { user: string; password: string };
  const port = (await readFile(path.join(dataDir, "pg", "postmaster.pid"), "utf8")).split("\n")[3];
  const c = new pg.Client({ host: "127.0.0.1", port: Number(port), user: creds.user, password: creds.password, database: "ferry" });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

/** Root, and every folder from / to the checkout lets other users through. */
function canRunAsAnotherUser(): boolean {
  if (process.getuid?.() !== 0) return false;
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      console.warn(`SKIPPED: ${dir} does not let other users through, so Ferry cannot be started as another uid here`);
      return false;
    }
    if (dir === path.dirname(dir)) return (statSync("server.ts").mode & 0o004) !== 0;
  }
}

describe("starting Ferry", () => {
  let tmp: string;
  const dbs: TestDatabase[] = [];

  beforeAll(async () => {
    // Build once, serially, before any server starts (each would otherwise try to build).
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-start-"));
    await chmod(tmp, 0o755);
  }, 600_000);

  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
    await rm(tmp, { recursive: true, force: true });
  });

  it("rejects a bad setting with exit code 2 and one line naming the key", async () => {
    const run = runFerry({ FERRY_PORT: "garbage", FERRY_DATA_DIR: path.join(tmp, "never") });
    expect(await run.exited).toBe(2);
    const lines = run.output().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/FERRY_PORT="garbage".*port number/);
  });

  // Only root can start a process as another uid (CI runs as root), and that uid must be able to
  // reach the checkout (not so under a 0700 home folder).
  it.skipIf(!canRunAsAnotherUser())("as a uid with no user entry: without DATABASE_URL it says why the embedded Postgres cannot start; with it, it serves", async () => {
    const dataDir = path.join(tmp, "uidless");
    await mkdir(dataDir, { mode: 0o777 });
    await chmod(dataDir, 0o777);
    const run = runFerry({ FERRY_DATA_DIR: dataDir, FERRY_PORT: String(await freePort()), FERRY_HOST: "127.0.0.1", HOME: dataDir }, ["--no-build"], { uid: 54321, gid: 54321 });
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toMatch(/embedded Postgres cannot run as uid 54321: it has no entry in the user database.*Set DATABASE_URL/);
    expect(run.output()).not.toContain("uv_os_get_passwd");
    // The way out it names works: with DATABASE_URL the same uid starts, serves and signs in
    // (what a container platform that assigns random uids, e.g. OpenShift, does).
    const db = await createTestDatabase();
    dbs.push(db);
    const ferry = await startFerry({ DATABASE_URL: db.url, FERRY_DATA_DIR: dataDir, HOME: dataDir, FERRY_ADMIN_USER: "uidless", FERRY_ADMIN_PASSWORD: "uidless-password-1" }, 90_000, { uid: 54321, gid: 54321 });
    try {
      expect((await fetch(`${ferry.url}/v2/`)).status).toBe(200);
      const login = await fetch(`${ferry.url}/api/v1/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "uidless", password: "uidless-password-1" }) });
      expect(login.status).toBe(201);
    } finally {
      await ferry.stop();
    }
  });

  it("starts its own Postgres with no DATABASE_URL and keeps the data across restarts", async () => {
    const dataDir = path.join(tmp, "embedded");
    const first = await startFerry({ FERRY_DATA_DIR: dataDir });
    const page = await fetch(first.url + "/");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Ferry");
    const ready = (await (await fetch(first.url + "/api/ready")).json()) as { database: { embedded: boolean } };
    expect(ready.database.embedded).toBe(true);
    const health = await fetch(first.url + "/api/health");
    expect(health.status).toBe(200);
    await embeddedQuery(dataDir, `INSERT INTO registry (id, name, config, updated_at) VALUES (gen_random_uuid(), 'kept', '{}', now())`);
    expect(await first.stop("SIGTERM")).toBe(0);

    // Write something while the server is down, through the same embedded cluster started again.
    const second = await startFerry({ FERRY_DATA_DIR: dataDir });
    const rows = await embeddedQuery(dataDir, `SELECT name FROM registry`);
    expect(rows).toEqual([{ name: "kept" }]);
    expect(await second.stop("SIGINT")).toBe(0);
    expect(second.output()).not.toMatch(/migrations applied/);
    expect((await readdir(path.join(dataDir, "pg"))).includes("PG_VERSION")).toBe(true);
  });

  it("uses DATABASE_URL when given and never starts its own Postgres; two processes at once migrate once", async () => {
    const db = await createTestDatabase({ migrated: false });
    dbs.push(db);
    const dataDir = path.join(tmp, "external");
    const [a, b] = await Promise.all([
      startFerry({ DATABASE_URL: db.url, FERRY_DATA_DIR: dataDir }),
      startFerry({ DATABASE_URL: db.url, FERRY_DATA_DIR: dataDir }),
    ]);
    try {
      for (const p of [a, b]) {
        const ready = (await (await fetch(p.url + "/api/ready")).json()) as { database: { embedded: boolean } };
        expect(ready.database.embedded).toBe(false);
      }
      const migrations = await readMigrations();
      expect(await count(db.url, `SELECT count(*) AS n FROM "_prisma_migrations"`)).toBe(migrations.length);
      await expect(readdir(path.join(dataDir, "pg"))).rejects.toThrow();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
