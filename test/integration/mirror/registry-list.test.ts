/**
 * The registry list every pull reads (ServiceCache.all) is kept in memory and fed by the
 * `registry` events a database trigger sends on every change: once this process has the event, the
 * very next read sees the new, changed or deleted registry, however recently the list was read.
 * (Without the event the list would be served from memory: a stale answer fails these tests.)
 * A write this process announces (lib/db announceLocalWrite, as every API mutation does) is seen
 * on the next read, before its event has come back.
 */
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { announceLocalWrite, createPrismaClient, type Db } from "../../../lib/db";
import { applyRegistryConfig, parseConfiguredRegistries, ServiceCache } from "../../../lib/mirror";
import { createLogger } from "../../../lib/observability";
import { EventListener, type FerryEvent } from "../../../lib/scheduler";
import { FsStore } from "../../../lib/store";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

const log = createLogger({ level: "silent" });
const entry = (name: string) => ({ name, urls: ["https://registry.example.test"], onDemand: true, content: [{ prefix: `${name}/**` }] });

describe("the registry list", () => {
  let tdb: TestDatabase;
  let db: Db;
  let tmp: string;
  let listener: EventListener;
  let services: ServiceCache;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-registry-list-"));
    listener = new EventListener(tdb.url, log);
    await listener.start();
    services = new ServiceCache({ db, store: await FsStore.open(path.join(tmp, "store")), log, events: listener });
  }, 60_000);

  afterAll(async () => {
    await services?.close();
    await listener?.close();
    await db?.$disconnect();
    await tdb?.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  /** Resolves at this process's next registry event. */
  const nextEvent = () =>
    Promise.race([
      new Promise<void>((resolve) => {
        const on = (e: FerryEvent) => {
          if (e.type !== "registry") return;
          listener.off("event", on);
          resolve();
        };
        listener.on("event", on);
      }),
      once(listener, "error").then(([err]) => Promise.reject(err as Error)),
    ]);

  /** Runs `change` and resolves once this process has received the registry event it caused. */
  async function changed(change: () => Promise<unknown>): Promise<void> {
    const event = nextEvent();
    await change();
    await event;
  }

  const names = async () => (await services.all()).map((e) => `${e.name}${e.enabled ? "" : " (disabled)"}`);

  it("sees a registry created, disabled and deleted on the first read after its event", { timeout: 30_000 }, async () => {
    expect(await names()).toEqual([]);
    await changed(() => applyRegistryConfig(db, parseConfiguredRegistries([entry("first")]), log));
    expect(await names()).toEqual(["first"]);
    // Read again at once: the list is now in memory, and the next change must still show.
    expect(await names()).toEqual(["first"]);
    await changed(() => db.registry.update({ where: { name: "first" }, data: { enabled: false } }));
    expect(await names()).toEqual(["first (disabled)"]);
    await changed(() => db.registry.deleteMany({ where: { name: "first" } }));
    expect(await names()).toEqual([]);
  });

  it("sees this process's own edit on the next read, before the edit's event has come back", { timeout: 30_000 }, async () => {
    // What the API does after every mutation (lib/api/caches.ts): a client that edits a registry
    // and pulls at once must not be answered from the list read before its edit. The event takes a
    // round trip through Postgres and usually comes after the edit's own answer; 20 edits make
    // a stale read all but certain without the announcement.
    await changed(() => applyRegistryConfig(db, parseConfiguredRegistries([entry("own")]), log));
    for (let i = 0; i < 20; i++) {
      const enabled = i % 2 === 1;
      expect(await names()).toContain(enabled ? "own (disabled)" : "own");
      const event = nextEvent();
      await db.registry.update({ where: { name: "own" }, data: { enabled } });
      announceLocalWrite(db);
      const seen = await names();
      await event;
      expect(seen).toContain(enabled ? "own" : "own (disabled)");
    }
    await changed(() => db.registry.deleteMany({ where: { name: "own" } }));
  });

  it("sees a changed content rule at once (what pulls map through)", { timeout: 30_000 }, async () => {
    await changed(() => applyRegistryConfig(db, parseConfiguredRegistries([entry("rules")]), log));
    const before = (await services.all()).find((e) => e.name === "rules")!;
    expect(before.service.upstreamRepoFor("other/x")).toBeNull();
    await changed(() => applyRegistryConfig(db, parseConfiguredRegistries([{ ...entry("rules"), content: [{ prefix: "other/**" }] }]), log));
    const after = (await services.all()).find((e) => e.name === "rules")!;
    expect(after.service.upstreamRepoFor("other/x")).toBe("other/x");
  });
});
