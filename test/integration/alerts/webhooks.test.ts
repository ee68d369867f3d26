/**
 * Alerts end to end, on the real mirror (boot + startMirror in this process, as server.ts runs
 * them) syncing from a real docker-registry through a proxy that can take the upstream down, with
 * a node:http webhook receiver:
 *   - upstream down → one signed `failure` event (HMAC verified here); upstream back → one
 *     signed `recovery` event; no more events while the state holds;
 *   - a receiver answering 500, 500, 200 → delivered on the 3rd attempt, each attempt recorded and
 *     counted in ferry_alert_deliveries_total;
 *   - a registry with no successful sync for longer than the threshold → one `freshness` event,
 *     and a `recovery` after the next successful round;
 *   - no log line contains the webhook secret.
 */
import "../sync/builtin-fetch";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listDeliveries } from "../../../lib/alerts";
import { loadConfig } from "../../../lib/config";
import { startMirror, type Mirror } from "../../../lib/mirror";
import { createLogger, createMetrics, type FerryMetrics } from "../../../lib/observability";
import { handleRest } from "../../../lib/api";
import { createApiToken, createUser } from "../../../lib/auth";
import { boot, setRuntime, type Runtime } from "../../../lib/runtime";
import { triggerRound } from "../../../lib/scheduler";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { pushImage } from "../../helpers/images";
import { registryAvailable, startRegistry, type TestRegistry } from "../../helpers/registry";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";
import { waitFor } from "../../helpers/wait";
import { parseProm, value } from "../ops/prom";
import { startReceiver, type Received, type Receiver } from "./receiver";

const SECRET = `whsec-${randomBytes(16).toString("hex")}`;
const STALE_SECRET = `whsec-stale-${randomBytes(16).toString("hex")}`;

describe.skipIf(!registryAvailable())("alert webhooks on a running mirror", () => {
  let tmp: string;
  let registry: TestRegistry;
  let proxy: UpstreamProxy;
  let receiver: Receiver;
  let tdb: TestDatabase;
  let runtime: Runtime;
  let mirror: Mirror;
  let metrics: FerryMetrics;
  const logLines: string[] = [];

  // The README's recipe, written out with node:crypto (not Ferry's own helper): HMAC-SHA256 of
  // "<X-Ferry-Timestamp>.<raw body>", hex, compared in constant time; timestamp within 5 minutes.
  const signedBy = (secret: string, r: Received) => {
    const ts = String(r.headers["x-ferry-timestamp"]);
    const given = Buffer.from(String(r.headers["x-ferry-signature"]));
    const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(`${ts}.${r.body}`).digest("hex")}`);
    const recent = Math.abs(Date.now() / 1000 - Number(ts)) < 300;
    return recent && given.length === expected.length && timingSafeEqual(given, expected);
  };
  const events = (p: string, type?: string) => receiver.on(p).filter((r) => r.status === 200 && (!type || r.headers["x-ferry-event"] === type));

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-alerts-"));
    await chmod(tmp, 0o755);
    registry = await startRegistry();
    await pushImage(registry, "apps/one", "1.0", { layers: [2048] });
    await pushImage(registry, "quiet/app", "1.0", { layers: [1024] });
    proxy = await startUpstreamProxy(registry.url);
    receiver = await startReceiver();
    // The flaky receiver fails its first two requests.
    receiver.answer = (p, nth) => (p === "/flaky" && nth <= 2 ? 500 : 200);
    const configFile = path.join(tmp, "ferry.config.json");
    await writeFile(
      configFile,
      JSON.stringify({
        registries: [
          { name: "hub", urls: [proxy.url], pollInterval: "1s", tlsVerify: false, maxRetries: 0, content: [{ prefix: "apps/**" }] },
          { name: "quiet", urls: [registry.url], pollInterval: "1h", tlsVerify: false, maxRetries: 0, content: [{ prefix: "quiet/**" }] },
        ],
        alerts: {
          evaluateInterval: "300ms",
          webhooks: [
            { name: "oncall", url: `${receiver.url}/oncall`, secretEnv: "FERRY_TEST_ALERT_SECRET", registries: ["hub"], events: ["failure", "recovery"] },
            { name: "flaky", url: `${receiver.url}/flaky`, secret: SECRET, registries: ["hub", "typo-registry"], events: ["failure"], retryDelay: "200ms", maxAttempts: 4 },
            { name: "stale", url: `${receiver.url}/stale`, secret: STALE_SECRET, registries: ["quiet"], events: ["freshness", "recovery"], freshnessThreshold: "3s" },
          ],
        },
      }),
    );
    tdb = await createTestDatabase();
    const config = loadConfig({
      file: configFile,
      cwd: tmp,
      env: {
        DATABASE_URL: tdb.url,
        FERRY_STORE_DIR: path.join(tmp, "store"),
        FERRY_DATA_DIR: path.join(tmp, "data"),
        FERRY_WORKERS: "2",
        FERRY_GENERATOR_TICK_MS: "200",
        FERRY_TEST_ALERT_SECRET: SECRET,
      },
    });
    // Every log line, at debug, to grep for the secrets at the end.
    const log = createLogger({ level: "debug", destination: { write: (line: string) => void logLines.push(line) } });
    runtime = await boot({ config, log });
    metrics = createMetrics({ processMetrics: false });
    mirror = await startMirror(runtime, { metrics });
  }, 120_000);

  afterAll(async () => {
    if (proxy) proxy.failWith = null;
    await mirror?.stop(5000);
    await runtime?.shutdown();
    await tdb?.drop();
    await receiver?.close();
    await proxy?.close();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("sends one signed failure event when the upstream goes down and one recovery event when it returns", async () => {
    // Healthy first: a round synced, and nothing was sent about it.
    await waitFor("hub's first successful sync", () => runtime.db.task.findFirst({ where: { registry: { name: "hub" }, status: "succeeded" } }), 60_000);
    await mirror.alerts.evaluateNow();
    expect(receiver.on("/oncall")).toEqual([]);

    proxy.failWith = 503;
    const [failure] = await waitFor("a failure event", async () => (events("/oncall", "failure").length ? events("/oncall", "failure") : null), 30_000);
    expect(signedBy(SECRET, failure!)).toBe(true);
    expect(signedBy("another-secret-of-some-length", failure!)).toBe(false);
    expect(failure!.headers["content-type"]).toBe("application/json");
    expect(failure!.headers["x-ferry-delivery"]).toBe(failure!.json.id);
    expect(failure!.json).toMatchObject({ type: "failure", webhook: "oncall", registry: "hub", condition: "failure" });
    expect((failure!.json.reason as { message: string }).message).toMatch(/503|UNAVAILABLE|unavailable/i);

    // Still down: more rounds fail, evaluations run, and no second failure event is sent.
    await waitFor("more failed catalog attempts", async () => proxy.count("GET", /^\/v2\/_catalog$/) >= 3 && true, 30_000);
    await mirror.alerts.evaluateNow();
    expect(receiver.on("/oncall")).toHaveLength(1);

    proxy.failWith = null;
    const [recovery] = await waitFor("a recovery event", async () => (events("/oncall", "recovery").length ? events("/oncall", "recovery") : null), 30_000);
    expect(signedBy(SECRET, recovery!)).toBe(true);
    expect(recovery!.json).toMatchObject({ type: "recovery", registry: "hub", condition: "failure", since: failure!.json.since });
    expect(recovery!.json.id).not.toBe(failure!.json.id);

    // Healthy again and stays so: exactly one failure and one recovery.
    await waitFor("another successful sync", () => runtime.db.task.findFirst({ where: { registry: { name: "hub" }, status: "succeeded", finishedAt: { gt: new Date(String(recovery!.json.occurredAt)) } } }), 30_000);
    await mirror.alerts.evaluateNow();
    expect(receiver.on("/oncall").map((r) => r.headers["x-ferry-event"])).toEqual(["failure", "recovery"]);
    const rows = await waitFor("both recorded as delivered", async () => {
      const r = await runtime.db.alertEvent.findMany({ where: { webhook: "oncall" }, orderBy: { createdAt: "asc" }, include: { attemptLog: true } });
      return r.every((e) => e.status !== "pending") ? r : null;
    });
    expect(rows.map((r) => [r.type, r.status, r.attempts, r.attemptLog.map((a) => a.statusCode)])).toEqual([
      ["failure", "delivered", 1, [200]],
      ["recovery", "delivered", 1, [200]],
    ]);
  });

  it("retries a receiver that answers 500 twice and records every attempt", async () => {
    const delivered = await waitFor("flaky's delivery", () => runtime.db.alertEvent.findFirst({ where: { webhook: "flaky", status: "delivered" }, include: { attemptLog: { orderBy: { attempt: "asc" } } } }), 30_000);
    expect(delivered.type).toBe("failure");
    expect(delivered.attempts).toBe(3);
    expect(delivered.attemptLog.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, "HTTP 500"],
      [2, 500, "HTTP 500"],
      [3, 200, null],
    ]);
    // Each retry waited for the time its failed predecessor set (the doubling is unit-tested).
    const [a1, a2, a3] = delivered.attemptLog;
    expect(a2!.at.getTime()).toBeGreaterThanOrEqual(a1!.nextAttemptAt!.getTime());
    expect(a3!.at.getTime()).toBeGreaterThanOrEqual(a2!.nextAttemptAt!.getTime());
    expect(a3!.nextAttemptAt).toBeNull();

    // The receiver saw the same delivery three times, each freshly signed.
    const got = receiver.on("/flaky");
    expect(got.map((r) => [r.status, r.headers["x-ferry-attempt"], r.headers["x-ferry-delivery"]])).toEqual([
      [500, "1", delivered.id],
      [500, "2", delivered.id],
      [200, "3", delivered.id],
    ]);
    expect(got.every((r) => signedBy(SECRET, r))).toBe(true);
    // flaky does not subscribe to recovery.
    expect(got.every((r) => r.headers["x-ferry-event"] === "failure")).toBe(true);

    const s = parseProm(await metrics.render());
    expect(value(s, "ferry_alert_deliveries_total", { webhook: "flaky", outcome: "retrying" })).toBe(2);
    expect(value(s, "ferry_alert_deliveries_total", { webhook: "flaky", outcome: "delivered" })).toBe(1);
    expect(value(s, "ferry_alert_deliveries_total", { webhook: "oncall", outcome: "delivered" })).toBe(2);

    // The API's view: attempts in order, no URL or secret anywhere.
    const page = await listDeliveries(runtime.db, { webhook: "flaky", limit: 10 });
    expect(page.items).toHaveLength(1);
    expect(page.items[0]!.attemptLog.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    const text = JSON.stringify(page);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(receiver.url);
  });

  it("sends a freshness event once the last successful sync is older than the threshold, and a recovery after the next one", async () => {
    const quiet = await runtime.db.registry.findUniqueOrThrow({ where: { name: "quiet" } });
    const [stale] = await waitFor("a freshness event", async () => (events("/stale", "freshness").length ? events("/stale", "freshness") : null), 30_000);
    expect(signedBy(STALE_SECRET, stale!)).toBe(true);
    expect(stale!.json).toMatchObject({ type: "freshness", registry: "quiet", condition: "freshness", freshness: { thresholdSeconds: 3 } });
    const f = stale!.json.freshness as { secondsSinceLastSuccess: number; lastSuccessAt: string | null };
    expect(f.secondsSinceLastSuccess).toBeGreaterThanOrEqual(3);
    // Stale since the threshold passed, counted from the last success (or, on a slow machine where
    // the first round had not finished yet, from the registry's creation).
    const from = f.lastSuccessAt ? new Date(f.lastSuccessAt) : quiet.createdAt;
    expect(new Date(String(stale!.json.since)).getTime()).toBe(from.getTime() + 3000);

    // A new round of "quiet" succeeds: fresh again.
    await waitFor("quiet's round to end", async () => (await runtime.db.generatorState.findUnique({ where: { registryId: quiet.id } }))?.roundEndedAt ?? null, 30_000);
    if (events("/stale", "recovery").length === 0) await triggerRound(mirror.sql, quiet.id);
    const [recovery] = await waitFor("a freshness recovery", async () => (events("/stale", "recovery").length ? events("/stale", "recovery") : null), 30_000);
    expect(signedBy(STALE_SECRET, recovery!)).toBe(true);
    expect(recovery!.json).toMatchObject({ type: "recovery", registry: "quiet", condition: "freshness", since: stale!.json.since });
    // One event per transition: (with a 3 s threshold and no more rounds it may go stale again
    // later, but) never two of a kind in a row.
    await mirror.alerts.evaluateNow();
    const kinds = receiver.on("/stale").map((r) => r.headers["x-ferry-event"]);
    expect(kinds.slice(0, 2)).toEqual(["freshness", "recovery"]);
    expect(kinds.every((k, i) => k === (i % 2 === 0 ? "freshness" : "recovery"))).toBe(true);
  });

  it("lists the deliveries over REST for a viewer, never with a URL or secret; 401 without credentials", async () => {
    setRuntime(Promise.resolve(runtime));
    const user = await createUser(runtime.db, { username: "watcher", password: "watcher-password-1", role: "viewer" });
    const { token } = await createApiToken(runtime.db, { userId: user.id, username: user.username, role: "viewer", via: "token" }, { name: "alerts", role: "viewer" });
    const get = (q: string, auth = true) => handleRest(new Request(`http://127.0.0.1/api/v1/alerts/deliveries${q}`, { headers: auth ? { authorization: `Bearer ${token}` } : {} }));

    const res = await get("?webhook=oncall");
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text) as { items: Array<{ type: string; status: string; attemptLog: Array<{ statusCode: number }> }>; nextCursor: string | null };
    expect(body.items.map((i) => [i.type, i.status, i.attemptLog.map((a) => a.statusCode)])).toEqual([
      ["recovery", "delivered", [200]],
      ["failure", "delivered", [200]],
    ]);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(receiver.url);
    // Paging: one at a time, the cursor leads to the older one.
    const first = (await (await get("?webhook=oncall&limit=1")).json()) as typeof body & { items: Array<{ id: string }> };
    expect(first.items).toHaveLength(1);
    const second = (await (await get(`?webhook=oncall&limit=1&cursor=${first.nextCursor}`)).json()) as typeof first;
    expect(second.items.map((i) => i.type)).toEqual(["failure"]);
    expect(second.nextCursor).toBeNull();

    expect((await get("?webhook=oncall", false)).status).toBe(401);
    expect((await get("?status=sideways")).status).toBe(400);
    expect((await get("?cursor=nonsense")).status).toBe(400);
  });

  it("never writes a webhook secret to the log", async () => {
    const all = logLines.join("");
    // The log is there and speaks about the alerts…
    expect(all).toContain("alert delivered");
    expect(all).toContain("will retry");
    expect(logLines.filter((l) => l.includes("names a registry that is not configured") && l.includes('"registry":"typo-registry"'))).toHaveLength(1);
    // …and never contains a secret, nor a receiver URL (hosted receivers put tokens in paths).
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(STALE_SECRET);
    expect(all).not.toContain(`${receiver.url}/`);
  });
});
