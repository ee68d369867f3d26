/**
 * Alert delivery across processes and restarts, on real mirrors sharing one Postgres (two
 * boot + startMirror in this process: separate database pools, listeners and alert services, as
 * two Ferry processes have): each event is queued once and sent once, whichever process sees the
 * failure; an event still pending when every process stops is delivered by the next one to start,
 * continuing its attempt count; a redirect is not followed and a 4xx is not retried.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate, webhooksFrom } from "../../../lib/alerts";
import { loadConfig } from "../../../lib/config";
import { installConfigReload, startMirror, type Mirror } from "../../../lib/mirror";
import { createLogger } from "../../../lib/observability";
import { boot, type Runtime } from "../../../lib/runtime";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { freePort } from "../../../lib/db";
import { startUpstreamProxy, type UpstreamProxy } from "../../helpers/upstream-proxy";
import { waitFor } from "../../helpers/wait";
import { startReceiver, type Receiver } from "./receiver";

const SECRET = `whsec-${randomBytes(16).toString("hex")}`;
const FANOUT = ["w1", "w2", "w3", "w4", "w5"];

describe("alert outbox: several processes, restarts", () => {
  let tmp: string;
  let proxy: UpstreamProxy;
  let receiver: Receiver;
  let tdb: TestDatabase;
  let configFile: string;
  let registries: object[];
  const hook = (name: string, extra: object = {}) => ({ name, url: `${receiver.url}/${name}`, secret: SECRET, events: ["failure"], ...extra });
  const procs: Array<{ runtime: Runtime; mirror: Mirror }> = [];
  /** /down answers 503 until this is true. */
  let downRecovered = false;

  const loadOptions = () => ({
    file: configFile,
    cwd: tmp,
    env: { DATABASE_URL: tdb.url, FERRY_STORE_DIR: path.join(tmp, "store"), FERRY_DATA_DIR: path.join(tmp, "data"), FERRY_WORKERS: "1", FERRY_GENERATOR_TICK_MS: "200", FERRY_LOG_LEVEL: "silent" },
  });

  async function startProcess(name: string): Promise<{ runtime: Runtime; mirror: Mirror }> {
    const config = loadConfig(loadOptions());
    const runtime = await boot({ config, log: createLogger({ level: "silent", name }) });
    const mirror = await startMirror(runtime);
    const p = { runtime, mirror };
    procs.push(p);
    return p;
  }

  async function stopProcess(p: { runtime: Runtime; mirror: Mirror }): Promise<void> {
    await p.mirror.stop(5000);
    await p.runtime.shutdown();
    procs.splice(procs.indexOf(p), 1);
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-alert-outbox-"));
    await chmod(tmp, 0o755);
    // The upstream is down from the start, for real: nothing listens on its port, so every
    // request the proxy forwards fails at connect and the proxy drops Ferry's connection. The
    // first evaluation of every process sees the registry failing.
    proxy = await startUpstreamProxy(`http://127.0.0.1:${await freePort()}`);
    receiver = await startReceiver();
    receiver.answer = (p) => ((p === "/down" && !downRecovered) || p === "/stuck" ? 503 : p === "/moved" ? 302 : p === "/gone" ? 410 : 200);
    configFile = path.join(tmp, "ferry.config.json");
    registries = [{ name: "hub", urls: [proxy.url], pollInterval: "1s", tlsVerify: false, maxRetries: 0, content: [{ prefix: "apps/**" }] }];
    await writeFile(
      configFile,
      JSON.stringify({
        registries,
        alerts: {
          evaluateInterval: "200ms",
          webhooks: [
            ...FANOUT.map((n) => hook(n)),
            hook("down", { retryDelay: "300ms", maxAttempts: 20 }),
            hook("moved", { maxAttempts: 5 }),
            hook("gone", { maxAttempts: 5 }),
            hook("stuck", { retryDelay: "1h", maxAttempts: 5 }),
          ],
        },
      }),
    );
    tdb = await createTestDatabase();
  }, 120_000);

  afterAll(async () => {
    for (const p of [...procs]) await stopProcess(p);
    await tdb?.drop();
    await receiver?.close();
    await proxy?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("two processes on one database queue and send each event once", async () => {
    // One after the other: applying the config file's registries is not safe to race on a fresh
    // database (two creates of one name), which is lib/mirror's business, not this test's.
    const a = await startProcess("a");
    const b = await startProcess("b");
    // Recorded as delivered (the receiver has it a moment before the record is written).
    for (const n of FANOUT) await waitFor(`${n}'s failure event`, () => a.runtime.db.alertEvent.findFirst({ where: { webhook: n, status: "delivered" } }), 30_000);
    // Both keep evaluating while the registry stays down; nothing more is queued or sent.
    await Promise.all([a.mirror.alerts.evaluateNow(), b.mirror.alerts.evaluateNow()]);
    await waitFor("more failed catalog attempts", async () => proxy.count("GET", /^\/v2\/_catalog$/) >= 4, 30_000);
    await Promise.all([a.mirror.alerts.evaluateNow(), b.mirror.alerts.evaluateNow()]);
    const events = await a.runtime.db.alertEvent.findMany({ where: { webhook: { in: FANOUT } } });
    expect(events.map((e) => e.webhook).sort()).toEqual(FANOUT);
    expect(events.every((e) => e.type === "failure" && e.status === "delivered" && e.attempts === 1)).toBe(true);
    for (const n of FANOUT) expect(receiver.on(`/${n}`)).toHaveLength(1);

    // Evaluations racing from both processes' connections at the moment a state is first seen
    // (a webhook "race" known to this evaluation only) still queue one event: they take turns.
    const [race] = webhooksFrom({ evaluateInterval: 1000, webhooks: [{ name: "race", url: `${receiver.url}/race`, secret: SECRET, registries: "all", events: ["failure"], maxAttempts: 1, failureAfter: 2, retryDelay: 100, timeout: 1000 }] });
    const hub = await a.runtime.db.registry.findUniqueOrThrow({ where: { name: "hub" } });
    const watched = [{ id: hub.id, name: hub.name, periodic: true }];
    // Both processes' own background evaluations take the same lock; a batch that found it held by
    // one of them decided nothing (every result null), so race again until one evaluation ran.
    let results: Awaited<ReturnType<typeof evaluate>>[] = [];
    for (let i = 0; i < 50 && !results.some((r) => r !== null); i++) {
      results = await Promise.all([a, b, a, b, a, b].map((p) => evaluate(p.runtime.db, [race!], watched)));
    }
    expect(results.flatMap((r) => r ?? []).map((e) => e.webhook)).toEqual(["race"]);
    expect(await a.runtime.db.alertEvent.count({ where: { webhook: "race" } })).toBe(1);
  });

  it("does not follow a redirect and does not retry a 4xx", async () => {
    const db = procs[0]!.runtime.db;
    const moved = await waitFor("moved's event to fail", () => db.alertEvent.findFirst({ where: { webhook: "moved", status: "failed" }, include: { attemptLog: true } }), 30_000);
    expect(moved.attemptLog.map((a) => [a.statusCode, a.error])).toEqual([[302, "HTTP 302: redirects are not followed"]]);
    const gone = await waitFor("gone's event to fail", () => db.alertEvent.findFirst({ where: { webhook: "gone", status: "failed" }, include: { attemptLog: true } }), 30_000);
    expect(gone.attemptLog.map((a) => a.statusCode)).toEqual([410]);
    expect(receiver.on("/moved")).toHaveLength(1);
    expect(receiver.on("/gone")).toHaveLength(1);
    expect(receiver.on("/elsewhere")).toHaveLength(0);
  });

  it("an event still pending when every process stops is delivered by the next process, attempts continued", async () => {
    const db = procs[0]!.runtime.db;
    const pending = await waitFor("a few failed attempts to /down", async () => {
      const e = await db.alertEvent.findFirst({ where: { webhook: "down" } });
      return e && e.attempts >= 2 ? e : null;
    }, 30_000);
    expect(pending.status).toBe("pending");
    for (const p of [...procs]) await stopProcess(p);
    const before = receiver.on("/down").length;
    // Nobody is running: the receiver recovers, and nothing is sent until a process starts (the
    // retry delay is 300 ms: several retries would have gone out in this second if anything of
    // the stopped processes still ran).
    downRecovered = true;
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.on("/down")).toHaveLength(before);
    const c = await startProcess("c");
    const delivered = await waitFor("the delivery after the restart", () => c.runtime.db.alertEvent.findFirst({ where: { id: pending.id, status: "delivered" }, include: { attemptLog: { orderBy: { attempt: "asc" } } } }), 30_000);
    const got = receiver.on("/down");
    expect(got.length).toBeGreaterThan(before);
    expect(got.every((r) => r.headers["x-ferry-delivery"] === pending.id)).toBe(true);
    // Attempt numbers run on without gaps or repeats across the restart; the last one succeeded.
    expect(delivered.attemptLog.map((a) => a.attempt)).toEqual(got.map((_, i) => i + 1));
    expect(delivered.attemptLog.map((a) => a.statusCode)).toEqual(got.map((r) => r.status));
    expect(delivered.attemptLog.at(-1)!.statusCode).toBe(200);
    expect(delivered.attempts).toBe(got.length);
  });

  it("SIGHUP: a webhook added during an outage hears of it once; a removed webhook's pending events are dropped", async () => {
    const c = procs[0]!;
    const db = c.runtime.db;
    const stuck = await waitFor("stuck's first failed attempt", () => db.alertEvent.findFirst({ where: { webhook: "stuck", attempts: 1, status: "pending" } }), 30_000);
    const uninstall = installConfigReload(c.mirror, createLogger({ level: "silent" }), loadOptions());
    try {
      await writeFile(configFile, JSON.stringify({ registries, alerts: { evaluateInterval: "200ms", webhooks: [hook("w1"), hook("late")] } }));
      process.emit("SIGHUP");
      await waitFor("late's failure event", async () => receiver.on("/late").length > 0, 30_000);
      expect(receiver.on("/late")[0]!.json).toMatchObject({ type: "failure", registry: "hub" });
      // The reload drops the removed webhooks' events and forgets their state (late's event may
      // come a moment sooner: evaluations go on while the reload writes).
      const dropped = await waitFor("stuck's event to be dropped", () => db.alertEvent.findFirst({ where: { id: stuck.id, status: "dropped" } }), 30_000);
      expect(dropped.attempts).toBe(1);
      await waitFor("stuck's state to be forgotten", async () => (await db.alertState.count({ where: { webhook: "stuck" } })) === 0, 30_000);
      // w1 kept its state: still failing, nothing new for it.
      await c.mirror.alerts.evaluateNow();
      expect(receiver.on("/w1")).toHaveLength(1);
      expect(receiver.on("/late")).toHaveLength(1);

      // Down to no webhooks (nothing scheduled), then one again: its loops start and it hears of the outage.
      await writeFile(configFile, JSON.stringify({ registries, alerts: { evaluateInterval: "200ms", webhooks: [] } }));
      process.emit("SIGHUP");
      await waitFor("w1 and late to be forgotten", async () => (await db.alertState.count({ where: { webhook: { in: ["w1", "late"] } } })) === 0, 30_000);
      await writeFile(configFile, JSON.stringify({ registries, alerts: { evaluateInterval: "200ms", webhooks: [hook("again")] } }));
      process.emit("SIGHUP");
      await waitFor("again's failure event", () => db.alertEvent.findFirst({ where: { webhook: "again", status: "delivered" } }), 30_000);
    } finally {
      uninstall();
    }
  });
});
