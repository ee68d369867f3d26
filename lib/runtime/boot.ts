import { createPrismaClient, migrate, startEmbeddedPostgres, type Db, type EmbeddedPostgresHandle, type MigrateResult } from "../db";
import { loadConfig, type ResolvedConfig } from "../config";
import { createLogger, type Logger } from "../observability";
import { FsStore, type Store } from "../store";

/**
 * Everything a Ferry process holds for its lifetime. Built once by `boot()`; `shutdown()` releases
 * it in reverse order (database clients before the embedded server they talk to).
 */
export interface Runtime {
  config: ResolvedConfig;
  log: Logger;
  db: Db;
  databaseUrl: string;
  /** The embedded Postgres when Ferry runs its own; null with DATABASE_URL. */
  embedded: EmbeddedPostgresHandle | null;
  migrations: MigrateResult;
  /** The image store (local disk under storage.root). */
  store: Store;
  startedAt: Date;
  shutdown(): Promise<void>;
}

export interface BootOptions {
  config?: ResolvedConfig;
  log?: Logger;
  migrationsDir?: string;
}

export async function boot(options: BootOptions = {}): Promise<Runtime> {
  const config = options.config ?? loadConfig();
  const log = options.log ?? createLogger({ level: config.logLevel });
  let embedded: EmbeddedPostgresHandle | null = null;
  let databaseUrl = config.database.url;
  if (!databaseUrl) {
    const pgLog = log.child({ component: "embedded-postgres" });
    embedded = await startEmbeddedPostgres({
      dir: config.paths.embeddedPgDir,
      ...(config.database.embeddedPort ? { port: config.database.embeddedPort } : {}),
      log: (line) => pgLog.debug(line),
    });
    databaseUrl = embedded.url;
    log.info({ dir: embedded.dir, port: embedded.port, owned: embedded.owned }, "embedded postgres ready");
  }
  let migrations: MigrateResult;
  try {
    migrations = await migrate(databaseUrl, options.migrationsDir);
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  if (migrations.applied.length) log.info({ applied: migrations.applied }, "migrations applied");
  if (migrations.modified.length) log.warn({ modified: migrations.modified }, "applied migrations were edited after they ran");

  let store: Store;
  try {
    store = await FsStore.open(config.paths.storeRoot);
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  const db = createPrismaClient(databaseUrl, { poolSize: config.database.poolSize });
  let down: Promise<void> | null = null;
  return {
    config,
    log,
    db,
    databaseUrl,
    embedded,
    migrations,
    store,
    startedAt: new Date(),
    shutdown: () =>
      (down ??= (async () => {
        await db.$disconnect().catch((err: unknown) => log.warn({ err }, "prisma disconnect failed"));
        if (embedded) await embedded.stop();
      })()),
  };
}
