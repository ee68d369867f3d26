/**
 * Secrets never reach a log line: registry credentials, Authorization headers (any case), cookies,
 * client keys, the database URL's password (as a field, inside a string, inside an error), with
 * log output captured from a real pino logger. Also: request and task ids from the async context.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, resolveLogFormat, scrubUrls, withLogContext } from "../../../lib/observability";

const SECRETS = {
  upstream: "upstream-pw-5f1c2a",
  bearer: "ferry_tok_93ab7e11",
  db: "db-pw-77d0e2",
  key: "-----BEGIN PRIVATE KEY-----k3y",
  cookie: "ferry_session=sess-0a9f",
  identity: "identity-tok-4411",
};

function capture(): { log: ReturnType<typeof createLogger>; lines: () => string[] } {
  let out = "";
  const destination = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  const log = createLogger({ level: "trace", destination, format: "json" });
  return { log, lines: () => out.split("\n").filter(Boolean) };
}

describe("logger", () => {
  it("redacts credentials, auth headers, cookies, keys and database URL passwords", () => {
    const { log, lines } = capture();
    const dbUrl = `postgres://ferry:${SECRETS.db}@db.internal:5432/ferry`;
    log.info({ registry: { name: "hub", credentials: { username: "bot", password: SECRETS.upstream } } }, "registry applied");
    log.info({ config: { name: "ghcr", credentials: { identityToken: SECRETS.identity } } }, "nested");
    log.info({ req: { headers: { authorization: `Bearer ${SECRETS.bearer}`, cookie: SECRETS.cookie } } }, "request");
    log.info({ headers: { Authorization: `Basic ${SECRETS.bearer}` } }, "upstream");
    log.info({ registry: { clientKey: SECRETS.key } }, "tls");
    log.info({ databaseUrl: dbUrl }, "db field");
    log.info({ url: dbUrl, nested: { list: [dbUrl] } }, "db in values");
    log.info(`connecting to ${dbUrl}`);
    log.warn({ err: new Error(`connect ECONNREFUSED ${dbUrl}`) }, "db down");
    log.child({ component: "x" }).error({ password: SECRETS.upstream, token: SECRETS.bearer }, "flat");
    const all = lines().join("\n");
    expect(lines()).toHaveLength(10);
    for (const secret of Object.values(SECRETS)) expect(all).not.toContain(secret);
    expect(all).toContain("[redacted]");
    // What is not secret stays readable.
    expect(all).toContain("postgres://ferry:[redacted]@db.internal:5432/ferry");
    expect(all).toContain('"registry":{"name":"hub","credentials":"[redacted]"}');
  });

  it("adds the request id and task id of the current context to every line", async () => {
    const { log, lines } = capture();
    await withLogContext({ reqId: "req-1" }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      log.info("inside a request");
      withLogContext({ taskId: "42" }, () => log.child({ component: "sync" }).info("inside a task"));
    });
    log.info("outside");
    const [a, b, c] = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a).toMatchObject({ reqId: "req-1", msg: "inside a request" });
    expect(b).toMatchObject({ reqId: "req-1", taskId: "42", component: "sync" });
    expect(c!.reqId).toBeUndefined();
  });

  it("chooses pretty output only when asked or in development", () => {
    expect(resolveLogFormat(undefined, {})).toBe("json");
    expect(resolveLogFormat(undefined, { NODE_ENV: "development" })).toBe("pretty");
    expect(resolveLogFormat(undefined, { NODE_ENV: "production", FERRY_LOG_FORMAT: "pretty" })).toBe("pretty");
    expect(resolveLogFormat("json", { NODE_ENV: "development" })).toBe("json");
    expect(scrubUrls("https://user:pw@host/x and http://plain/y")).toBe("https://user:[redacted]@host/x and http://plain/y");
  });
});
