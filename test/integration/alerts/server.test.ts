/**
 * Alerts in a real Ferry process (`tsx server.ts`, as `npm start` runs it): the webhook secret
 * comes from a FERRY_-prefixed variable named by `secretEnv`, a registry whose upstream is down
 * (nothing listens on its port) produces one signed failure event, SIGTERM stops the process
 * cleanly with alerts running, and nothing Ferry printed contains the secret. A config with a bad
 * secret exits 2 without echoing it.
 */
import { createHmac, randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../../lib/api";
import { createApiToken, createUser } from "../../../lib/auth";
import { createPrismaClient, freePort } from "../../../lib/db";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { runFerry, startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { waitFor } from "../../helpers/wait";
import { startReceiver, type Receiver } from "./receiver";

const SECRET = `whsec-${randomBytes(16).toString("hex")}`;

describe("alerts in a running Ferry process", () => {
  let tmp: string;
  let tdb: TestDatabase;
  let receiver: Receiver;
  let ferry: FerryProcess | null = null;
  let configFile: string;

  beforeAll(async () => {
    // The dashboard build Next serves (made once for all tests, or by whoever is building now).
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-alerts-server-"));
    await chmod(tmp, 0o755);
    receiver = await startReceiver();
    tdb = await createTestDatabase();
    configFile = path.join(tmp, "ferry.config.json");
    const dead = `http://127.0.0.1:${await freePort()}`;
    await writeFile(
      configFile,
      JSON.stringify({
        registries: [{ name: "dead", urls: [dead], pollInterval: "1s", tlsVerify: false, maxRetries: 0, content: [{ prefix: "**" }] }],
        alerts: { evaluateInterval: "300ms", webhooks: [{ name: "oncall", url: `${receiver.url}/hook`, secretEnv: "FERRY_ALERT_SECRET" }] },
      }),
    );
  }, 900_000);

  afterAll(async () => {
    await ferry?.stop("SIGKILL");
    await tdb?.drop();
    await receiver?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("sends a signed failure event, stops cleanly on SIGTERM, and never prints the secret", async () => {
    ferry = await startFerry({
      DATABASE_URL: tdb.url,
      FERRY_CONFIG: configFile,
      FERRY_STORE_DIR: path.join(tmp, "store"),
      FERRY_DATA_DIR: path.join(tmp, "data"),
      FERRY_GENERATOR_TICK_MS: "200",
      FERRY_LOG_LEVEL: "debug",
      FERRY_ALERT_SECRET: SECRET,
    });
    const [got] = await waitFor("the failure event", async () => (receiver.on("/hook").length ? receiver.on("/hook") : null), 60_000);
    const ts = String(got!.headers["x-ferry-timestamp"]);
    expect(got!.headers["x-ferry-signature"]).toBe(`sha256=${createHmac("sha256", SECRET).update(`${ts}.${got!.body}`).digest("hex")}`);
    expect(got!.json).toMatchObject({ type: "failure", registry: "dead", reason: { source: "catalog" } });
    await waitFor("the delivery to be logged", async () => ferry!.output().includes("alert delivered"), 30_000);

    // The history over HTTP, REST and GraphQL, for a viewer's token: no URL, no secret.
    const db = createPrismaClient(tdb.url);
    let token: string;
    try {
      const user = await createUser(db, { username: "watcher", password: "watcher-password-1", role: "viewer" });
      ({ token } = await createApiToken(db, { userId: user.id, username: user.username, role: "viewer", via: "token" }, { name: "alerts", role: "viewer" }));
    } finally {
      await db.$disconnect();
    }
    const auth = { authorization: `Bearer ${token}` };
    const rest = await fetch(`${ferry.url}/api/v1/alerts/deliveries?registry=dead`, { headers: auth });
    const restText = await rest.text();
    expect(rest.status).toBe(200);
    // In the shape the OpenAPI document gives.
    const def = ROUTES.find((r) => r.operationId === "listAlertDeliveries")!;
    expect(def.response.safeParse(JSON.parse(restText)).success).toBe(true);
    expect((JSON.parse(restText) as { items: Array<{ id: string; type: string; status: string }> }).items).toEqual([expect.objectContaining({ id: got!.json.id, type: "failure", status: "delivered" })]);
    const gql = await fetch(`${ferry.url}/api/graphql`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ query: "{ alertDeliveries(registry: \"dead\") { items { id type status attempts attemptLog { attempt statusCode } } nextCursor } }" }),
    });
    const gqlText = await gql.text();
    expect(JSON.parse(gqlText)).toEqual({ data: { alertDeliveries: { items: [{ id: got!.json.id, type: "failure", status: "delivered", attempts: 1, attemptLog: [{ attempt: 1, statusCode: 200 }] }], nextCursor: null } } });
    expect((await fetch(`${ferry.url}/api/v1/alerts/deliveries`)).status).toBe(401);
    for (const text of [restText, gqlText]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(receiver.url);
    }

    expect(await ferry.stop("SIGTERM")).toBe(0);
    const out = ferry.output();
    expect(out).toContain("alerts started");
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(`${receiver.url}/hook`);
    ferry = null;
  });

  it("refuses a too-short secret with exit code 2, without echoing it", async () => {
    const bad = path.join(tmp, "bad.config.json");
    const short = "short-s3cret";
    await writeFile(bad, JSON.stringify({ alerts: { webhooks: [{ name: "x", url: `${receiver.url}/x`, secret: short }] } }));
    const run = runFerry({ DATABASE_URL: tdb.url, FERRY_CONFIG: bad, FERRY_DATA_DIR: path.join(tmp, "data2") }, ["--no-build"]);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/alerts\.webhooks\.0\.secret=\[redacted\]: expected a secret of at least 16 characters/);
    expect(run.output()).not.toContain(short);
  });
});
