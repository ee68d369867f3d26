/**
 * Integration global setup: one Postgres for the whole run (embedded in a temporary directory, or
 * the server at DATABASE_URL), and a template database migrated once. Each test file clones the
 * template (`createTestDatabase`), which takes milliseconds instead of re-running migrations.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrate, startEmbeddedPostgres, type EmbeddedPostgresHandle } from "../../lib/db";

declare module "vitest" {
  export interface ProvidedContext {
    /** A URL to a database on the test server with rights to create databases. */
    pgAdminUrl: string;
    pgTemplate: string;
  }
}

export const TEMPLATE_DB = "ferry_test_template";

export default async function setup(project: TestProject) {
  let embedded: EmbeddedPostgresHandle | null = null;
  let tmp: string | null = null;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-test-pg-"));
    await chmod(tmp, 0o755); // as root, Postgres runs as the `postgres` user and must traverse it
    embedded = await startEmbeddedPostgres({ dir: path.join(tmp, "pg") });
    adminUrl = embedded.urlFor("postgres");
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  await migrate(withDatabase(adminUrl, TEMPLATE_DB));
  project.provide("pgAdminUrl", adminUrl);
  project.provide("pgTemplate", TEMPLATE_DB);

  return async () => {
    if (embedded) await embedded.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
