import pino, { type Logger } from "pino";

export type { Logger };

/**
 * Paths redacted in every log line. Credentials travel in registry configs, headers and URLs;
 * listing them here (not at each call site) is what keeps them out of logs.
 */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "token",
  "*.token",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "credentials",
  "*.credentials",
  "databaseUrl",
];

export function createLogger(options: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: options.name ?? "ferry",
      level: options.level ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
    },
    options.destination,
  );
}
