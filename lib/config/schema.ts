import { z } from "zod";
import { alertsSchema } from "./alerts";

/** Integers given as strings in the environment, checked for range. */
const port = z.coerce
  .number({ error: "expected a port number between 1 and 65535" })
  .int({ error: "expected a port number between 1 and 65535" })
  .min(1, { error: "expected a port number between 1 and 65535" })
  .max(65535, { error: "expected a port number between 1 and 65535" });

const positiveInt = (what: string) =>
  z.coerce
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what}` })
    .min(1, { error: `expected ${what}` });

const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\/.+/.test(v), {
    error: "expected a postgres:// or postgresql:// connection URL",
  });

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/**
 * Ferry's settings after merging the config file and the environment. Registries are kept raw
 * here and validated by lib/sync, which owns their meaning.
 */
export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default("0.0.0.0"),
        port: port.default(3000),
        /** Run sync workers inside the server process. */
        workers: z.coerce.number().int().min(0).max(256).optional(),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: postgresUrl.optional(),
        /** Where the embedded Postgres keeps its data when no url is given. */
        embeddedDir: z.string().min(1).optional(),
        embeddedPort: port.optional(),
        poolSize: positiveInt("a positive integer").default(10),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({ root: z.string().min(1).optional() })
      .strict()
      .prefault({}),
    scheduler: z
      .object({
        /** A claimed task's lease; a task whose worker died runs again after this. */
        leaseMs: z.coerce.number({ error: "expected milliseconds" }).int().min(500, { error: "expected at least 500 ms" }).max(600_000).default(30_000),
        /** How often generators look for work. */
        generatorTickMs: z.coerce.number({ error: "expected milliseconds" }).int().min(50, { error: "expected at least 50 ms" }).max(60_000).default(1000),
        /** How often upstream urls no request has checked lately are probed with GET /v2/ (0: never). */
        urlProbeIntervalMs: z.coerce
          .number({ error: "expected milliseconds" })
          .int()
          .max(86_400_000)
          .refine((n) => n === 0 || n >= 1000, { error: "expected 0 (off) or at least 1000 ms" })
          .default(60_000),
        /** Finished tasks (and their events) are deleted after this many days. */
        historyRetentionDays: z.coerce.number({ error: "expected a number of days" }).int().min(1, { error: "expected at least 1 day" }).max(3650).default(30),
      })
      .strict()
      .prefault({}),
    /**
     * Access control and secrets at rest (lib/auth, lib/secrets). Values here are never echoed in
     * configuration errors: `secretKey` and `adminPassword` are validated where they are used.
     */
    auth: z
      .object({
        /** 32 bytes, base64 or hex: encrypts upstream credentials (AES-256-GCM). */
        secretKey: z.coerce.string().min(1).optional(),
        /** The first admin, created at first use when no user of that name exists. */
        adminUser: z.coerce.string().min(1).optional(),
        adminPassword: z.coerce.string().min(1).optional(),
        /** How long a browser session lasts without signing in again. */
        sessionTtlHours: z.coerce.number({ error: "expected a number of hours" }).positive({ error: "expected a number of hours" }).max(24 * 90, { error: "expected at most 2160 hours" }).default(12),
        /** `auto`: cookies get `Secure` when the request came over https (or X-Forwarded-Proto says so). */
        cookieSecure: z.enum(["auto", "true", "false"], { error: "expected auto, true or false" }).default("auto"),
      })
      .strict()
      .prefault({}),
    /** Authentication for `/v2` pulls (Docker token flow). Off by default: pulls are anonymous. */
    pullAuth: z
      .object({
        enabled: z
          .union([z.boolean(), z.enum(["true", "false"])], { error: "expected true or false" })
          .transform((v) => v === true || v === "true")
          .default(false),
        /** Repository globs (`public/**`) anyone may pull without signing in. */
        anonymous: z.array(z.string().min(1)).default([]),
        tokenTtlSeconds: z.coerce.number().int().min(30).max(86_400).default(300),
      })
      .strict()
      .prefault({}),
    dataDir: z.string().min(1).default(".ferry"),
    logLevel: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(", ")}` }).default("info"),
    /** `json` (default) or `pretty` (needs the pino-pretty devDependency; default under NODE_ENV=development). */
    logFormat: z.enum(["json", "pretty"], { error: "expected json or pretty" }).optional(),
    /** A headless worker's own /metrics listener (the server serves /metrics on its HTTP port). */
    metrics: z.object({ port: port.optional(), host: z.string().min(1).default("0.0.0.0") }).strict().prefault({}),
    registries: z.array(z.unknown()).default([]),
    /** Webhooks on registry failure, recovery and staleness (lib/config/alerts.ts, lib/alerts). */
    alerts: alertsSchema.prefault({}),
  })
  .strict();

export type FerryConfigInput = z.input<typeof configSchema>;
export type FerryConfig = z.output<typeof configSchema>;

/**
 * Environment variables and where each lands in the config. An env value wins over the file.
 * FERRY_* names that are not listed here are rejected: a typo must not be ignored silently.
 */
export const ENV_KEYS: Record<string, string[]> = {
  DATABASE_URL: ["database", "url"],
  FERRY_DATABASE_URL: ["database", "url"],
  FERRY_PG_DIR: ["database", "embeddedDir"],
  FERRY_PG_PORT: ["database", "embeddedPort"],
  FERRY_DB_POOL_SIZE: ["database", "poolSize"],
  FERRY_HOST: ["server", "host"],
  PORT: ["server", "port"],
  FERRY_PORT: ["server", "port"],
  FERRY_WORKERS: ["server", "workers"],
  FERRY_STORE_DIR: ["storage", "root"],
  FERRY_TASK_LEASE_MS: ["scheduler", "leaseMs"],
  FERRY_GENERATOR_TICK_MS: ["scheduler", "generatorTickMs"],
  FERRY_HISTORY_RETENTION_DAYS: ["scheduler", "historyRetentionDays"],
  FERRY_URL_PROBE_INTERVAL_MS: ["scheduler", "urlProbeIntervalMs"],
  FERRY_DATA_DIR: ["dataDir"],
  FERRY_LOG_LEVEL: ["logLevel"],
  FERRY_LOG_FORMAT: ["logFormat"],
  FERRY_METRICS_PORT: ["metrics", "port"],
  FERRY_METRICS_HOST: ["metrics", "host"],
  FERRY_PULL_AUTH: ["pullAuth", "enabled"],
  FERRY_SECRET_KEY: ["auth", "secretKey"],
  FERRY_ADMIN_USER: ["auth", "adminUser"],
  FERRY_ADMIN_PASSWORD: ["auth", "adminPassword"],
  FERRY_SESSION_TTL_HOURS: ["auth", "sessionTtlHours"],
  FERRY_COOKIE_SECURE: ["auth", "cookieSecure"],
};

/** FERRY_* variables that are read elsewhere and must not be flagged as unknown. */
export const ENV_PASSTHROUGH = new Set(["FERRY_CONFIG", "FERRY_URL", "FERRY_TOKEN"]);
