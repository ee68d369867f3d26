import { createRequire } from "node:module";
import pino, { type Logger } from "pino";
import { currentLogContext } from "./log-context";

export type { Logger };

/**
 * Paths redacted in every log line. Credentials travel in registry configs, headers and URLs;
 * listing them here (not at each call site) is what keeps them out of logs. Passwords inside
 * connection URLs (`postgres://user:pw@host`) are scrubbed from string values by `scrubUrls`.
 */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "adminPassword",
  "*.adminPassword",
  "token",
  "*.token",
  "identityToken",
  "*.identityToken",
  "registryToken",
  "*.registryToken",
  "secret",
  "*.secret",
  "secretKey",
  "*.secretKey",
  "clientKey",
  "*.clientKey",
  "*.*.clientKey",
  "authorization",
  "*.authorization",
  "Authorization",
  "*.Authorization",
  "headers.authorization",
  "*.headers.authorization",
  "*.*.headers.authorization",
  "headers.Authorization",
  "*.headers.Authorization",
  "headers.cookie",
  "*.headers.cookie",
  'headers["set-cookie"]',
  '*.headers["set-cookie"]',
  'headers["x-csrf-token"]',
  '*.headers["x-csrf-token"]',
  "cookie",
  "*.cookie",
  "credentials",
  "*.credentials",
  "*.*.credentials",
  "databaseUrl",
  "*.databaseUrl",
  // Alert webhook secrets, should a config object be logged (lib/config/alerts.ts).
  "webhooks[*].secret",
  "*.webhooks[*].secret",
  "alerts.webhooks[*].secret",
  "*.alerts.webhooks[*].secret",
];

export type LogFormat = "json" | "pretty";

export interface CreateLoggerOptions {
  level?: string;
  name?: string;
  destination?: pino.DestinationStream;
  /** `pretty` needs the pino-pretty devDependency; default: pretty when NODE_ENV=development. */
  format?: LogFormat;
}

/** `scheme://user:password@` → `scheme://user:[redacted]@`, in any string. */
export function scrubUrls(s: string): string {
  return s.includes("@") ? s.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/@]*@/gi, "$1:[redacted]@") : s;
}

function scrubValue(v: unknown, depth: number): unknown {
  if (typeof v === "string") return scrubUrls(v);
  if (depth <= 0 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => scrubValue(x, depth - 1));
  if (v instanceof Error) return v; // the err serializer runs later; its message is scrubbed there
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = scrubValue(x, depth - 1);
  return out;
}

const errSerializer = (err: unknown) => {
  const s = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  return scrubValue(s, 3);
};

export function resolveLogFormat(format: LogFormat | undefined, env: Record<string, string | undefined> = process.env): LogFormat {
  if (format) return format;
  if (env.FERRY_LOG_FORMAT === "pretty" || env.FERRY_LOG_FORMAT === "json") return env.FERRY_LOG_FORMAT;
  return env.NODE_ENV === "development" ? "pretty" : "json";
}

/** pino-pretty as a synchronous stream (no worker thread), when it is installed. */
function prettyStream(): pino.DestinationStream | null {
  try {
    const require = createRequire(import.meta.url);
    const pretty = require("pino-pretty") as (o: Record<string, unknown>) => pino.DestinationStream;
    return pretty({ colorize: process.stdout.isTTY === true, sync: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" });
  } catch {
    return null;
  }
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  let destination = options.destination;
  let prettyMissing = false;
  if (!destination && resolveLogFormat(options.format) === "pretty") {
    destination = prettyStream() ?? undefined;
    prettyMissing = destination === undefined;
  }
  const log = pino(
    {
      name: options.name ?? "ferry",
      level: options.level ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
      serializers: { err: errSerializer, error: errSerializer },
      // Request and task ids from the async context (lib/observability/log-context.ts).
      mixin: () => ({ ...currentLogContext() }),
      formatters: { log: (obj) => scrubValue(obj, 4) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          // The message string itself (and format arguments) may carry a URL with a password.
          const scrubbed = args.map((a) => (typeof a === "string" ? scrubUrls(a) : a)) as Parameters<typeof method>;
          method.apply(this, scrubbed);
        },
      },
    },
    destination,
  );
  if (prettyMissing) log.warn("FERRY_LOG_FORMAT=pretty needs the pino-pretty package (a devDependency); logging JSON");
  return log;
}
