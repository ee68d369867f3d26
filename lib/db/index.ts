export { createPrismaClient, type Db } from "./client";
export { announceLocalWrite, onLocalWrite } from "./local-writes";
export { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle, type EmbeddedPostgresOptions } from "./embedded";
export { DEFAULT_MIGRATIONS_DIR, migrate, pendingMigrations, readMigrations, type MigrateResult, type Migration } from "./migrate";
