import type { Db } from "../db";
import { countUsers, ensureEnvAdmin, ensureSetupToken } from "../auth";
import type { ResolvedConfig } from "../config";
import type { Logger } from "../observability";
import { getRuntime } from "../runtime";
import { sqlFromPrisma, type Sql } from "../scheduler";
import { loadSecretKey } from "../secrets";
import { attachApiCaches } from "./caches";

/** What every API operation needs from the process: built once, on first use. */
export interface ApiEnv {
  db: Db;
  sql: Sql;
  log: Logger;
  config: ResolvedConfig;
  databaseUrl: string;
  /** The key sealing upstream credentials (FERRY_SECRET_KEY, or the dev key file). */
  secretKey: Buffer;
}

const KEY = Symbol.for("ferry.api-env");
type Holder = { [KEY]?: Promise<ApiEnv> };

/**
 * The API's view of the runtime. On first use it also creates the env admin
 * (FERRY_ADMIN_USER/PASSWORD) and, when there are still no users, the one-time setup token.
 * Lives on globalThis for the same reason as the runtime: Next's bundles load their own copies.
 */
export function getApiEnv(): Promise<ApiEnv> {
  const holder = globalThis as Holder;
  const p = (holder[KEY] ??= init());
  p.catch(() => {
    if (holder[KEY] === p) delete holder[KEY];
  });
  return p;
}

async function init(): Promise<ApiEnv> {
  const rt = await getRuntime();
  const log = rt.log.child({ component: "api" });
  const { key } = loadSecretKey({ configured: rt.config.auth.secretKey, dataDir: rt.config.paths.dataDir, warn: (m) => log.warn(m) });
  const env: ApiEnv = { db: rt.db, sql: sqlFromPrisma(rt.db), log, config: rt.config, databaseUrl: rt.databaseUrl, secretKey: key };
  attachApiCaches(env);
  if (await ensureEnvAdmin(rt.db, rt.config.auth.adminUser, rt.config.auth.adminPassword)) {
    log.info({ user: rt.config.auth.adminUser }, "created the first admin from FERRY_ADMIN_USER");
  }
  if ((await countUsers(rt.db)) === 0) {
    const { file } = ensureSetupToken(rt.config.paths.dataDir);
    log.warn({ file }, "no users yet: POST /api/v1/setup with the token in this file to create the first admin, or set FERRY_ADMIN_USER and FERRY_ADMIN_PASSWORD");
  }
  return env;
}
