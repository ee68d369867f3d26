/**
 * The API's in-memory caches against a real Postgres: credentials (lib/auth/cache.ts) and the
 * generator snapshot (lib/scheduler SnapshotCache). "This process" is a Prisma client with the
 * caches attached; "another process" is a second client without them, so nothing but the
 * database's NOTIFY can tell this one about its changes. Rows are also changed with triggers off
 * (`session_replication_role = replica`) to see whether an answer came from memory.
 */
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { attachAuthCache, AuthCache, createApiToken, createUser, endSession, resolveApiToken, resolveSession, sha256Hex, type Viewer } from "../../../lib/auth";
import { createPrismaClient, type Db } from "../../../lib/db";
import { attachSnapshotCache, EventListener, generatorSnapshot, pauseRegistry, resumeRegistry, SnapshotCache, sqlFromPrisma, type FerryEvent, type Sql } from "../../../lib/scheduler";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

describe("API caches", () => {
  let tdb: TestDatabase;
  let here: Db;
  let other: Db;
  let listener: EventListener;
  let cache: AuthCache;
  let owner: Viewer;

  /** Runs SQL on its own connection with triggers off: a change no process hears about. */
  async function silently(sql: string, ...params: unknown[]): Promise<void> {
    const c = new pg.Client({ connectionString: tdb.url });
    await c.connect();
    try {
      await c.query("SET session_replication_role = replica");
      await c.query(sql, params);
    } finally {
      await c.end();
    }
  }

  /** Resolves with the next event of `type` this process's listener receives. */
  function nextEvent(type: FerryEvent["type"]): Promise<FerryEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} event within 10 s`)), 10_000);
      const on = (e: FerryEvent) => {
        if (e.type !== type) return;
        clearTimeout(timer);
        listener.off("event", on);
        resolve(e);
      };
      listener.on("event", on);
    });
  }

  async function newToken(name: string): Promise<{ token: string; id: string }> {
    const { token, info } = await createApiToken(other, owner, { name, role: "operator" });
    return { token, id: info.id };
  }

  beforeAll(async () => {
    tdb = await createTestDatabase();
    here = createPrismaClient(tdb.url, { poolSize: 2 });
    other = createPrismaClient(tdb.url, { poolSize: 2 });
    listener = new EventListener(tdb.url);
    await listener.start();
    const user = await createUser(other, { username: "alice", password: "a long enough password", role: "admin" });
    owner = { userId: user.id, username: user.username, role: "admin", via: "session" };
  });

  afterAll(async () => {
    await listener?.close();
    await here?.$disconnect();
    await other?.$disconnect();
    await tdb?.drop();
  });

  beforeEach(() => {
    cache = new AuthCache(listener);
    attachAuthCache(here, cache);
    listener.removeAllListeners("event");
    listener.on("event", (e) => {
      if (e.type === "auth") cache.clear();
    });
  });

  it("serves a token from memory, and forgets it when another process revokes it", async () => {
    const t = await newToken("ci");
    expect(await resolveApiToken(here, t.token)).toMatchObject({ username: "alice", role: "operator", tokenId: t.id });
    // Revoked behind every process's back: still served, so the answer came from memory.
    await silently(`UPDATE api_token SET revoked_at = now() WHERE id = $1`, t.id);
    expect(await resolveApiToken(here, t.token)).not.toBeNull();
    await silently(`UPDATE api_token SET revoked_at = NULL WHERE id = $1`, t.id);

    // Revoked by another process (no cache there to clear): the trigger's NOTIFY reaches us.
    const heard = nextEvent("auth");
    await other.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } });
    await heard;
    expect(await resolveApiToken(here, t.token)).toBeNull();
  });

  it("sees a role change, a disabled user and a deleted token through the triggers", async () => {
    const t = await newToken("roles");
    expect((await resolveApiToken(here, t.token))?.role).toBe("operator");
    let heard = nextEvent("auth");
    await other.userAccount.update({ where: { id: owner.userId }, data: { role: "viewer" } });
    await heard;
    expect((await resolveApiToken(here, t.token))?.role).toBe("viewer");

    heard = nextEvent("auth");
    await other.userAccount.update({ where: { id: owner.userId }, data: { disabled: true } });
    await heard;
    expect(await resolveApiToken(here, t.token)).toBeNull();
    heard = nextEvent("auth");
    await other.userAccount.update({ where: { id: owner.userId }, data: { disabled: false, role: "admin" } });
    await heard;

    expect(await resolveApiToken(here, t.token)).not.toBeNull();
    heard = nextEvent("auth");
    await other.apiToken.delete({ where: { id: t.id } });
    await heard;
    expect(await resolveApiToken(here, t.token)).toBeNull();
  });

  it("does not announce last-used bookkeeping (it would empty every cache once a minute per client)", async () => {
    const t = await newToken("quiet");
    // NOTIFYs arrive in commit order: if the update had announced itself, `auth` would come first.
    const first = new Promise<FerryEvent>((resolve) => listener.once("event", resolve));
    await other.apiToken.update({ where: { id: t.id }, data: { lastUsedAt: new Date() } });
    await other.$executeRawUnsafe(`SELECT pg_notify('ferry_events', '{"type":"marker"}')`);
    expect((await first) as { type: string }).toEqual({ type: "marker" });
  });

  it("forgets a logged-out session at once in this process", async () => {
    const secret = "s".repeat(43);
    await other.userSession.create({ data: { id: sha256Hex(secret), userId: owner.userId, expiresAt: new Date(Date.now() + 3_600_000) } });
    expect(await resolveSession(here, secret)).toMatchObject({ username: "alice", via: "session" });
    await silently(`DELETE FROM user_session WHERE id = $1`, sha256Hex(secret));
    expect(await resolveSession(here, secret)).not.toBeNull(); // from memory
    await endSession(here, sha256Hex(secret)); // already gone; ending it here clears this process's cache
    expect(await resolveSession(here, secret)).toBeNull();
  });

  it("does not keep what a lookup read before a clear", async () => {
    const t = await newToken("race");
    const pending = resolveApiToken(here, t.token); // reads the row now
    cache.clear(); // e.g. the revocation's notification arrived meanwhile
    expect(await pending).not.toBeNull();
    await silently(`UPDATE api_token SET revoked_at = now() WHERE id = $1`, t.id);
    expect(await resolveApiToken(here, t.token)).toBeNull();
  });

  it("reads the database while the listener is down", async () => {
    const down = new EventListener(tdb.url);
    const uncached = new AuthCache(down); // never started: not connected
    attachAuthCache(here, uncached);
    const t = await newToken("down");
    expect(await resolveApiToken(here, t.token)).not.toBeNull();
    await silently(`UPDATE api_token SET revoked_at = now() WHERE id = $1`, t.id);
    expect(await resolveApiToken(here, t.token)).toBeNull();
  });

  describe("generator snapshot", () => {
    let sql: Sql;
    let otherSql: Sql;
    let registryId: string;

    beforeAll(async () => {
      sql = sqlFromPrisma(here);
      otherSql = sqlFromPrisma(other);
      // The insert announces a registry change: let it arrive before the test counts events.
      const announced = nextEvent("registry");
      registryId = (await other.registry.create({ data: { name: "docker", config: {}, generator: { create: {} } } })).id;
      await announced;
    });

    it("answers from memory until a generator event, and at once after this process's own change", async () => {
      // A long TTL: only events may refresh it in this test.
      const snap = new SnapshotCache(listener, 3_600_000);
      attachSnapshotCache(sql, snap);
      listener.on("event", (e) => {
        if (e.type !== "auth") snap.invalidate();
      });
      expect((await generatorSnapshot(sql))[0]).toMatchObject({ registryName: "docker", paused: false });
      await silently(`UPDATE generator_state SET last_error = 'quiet change' WHERE registry_id = $1`, registryId);
      expect((await generatorSnapshot(sql))[0]!.lastError).toBeNull(); // from memory

      const heard = nextEvent("generator");
      await pauseRegistry(otherSql, registryId); // another process: NOTIFY only
      await heard;
      expect((await generatorSnapshot(sql, registryId))[0]).toMatchObject({ paused: true, phase: "paused", lastError: "quiet change" });

      await resumeRegistry(sql, registryId); // this process: no waiting for the notification
      expect((await generatorSnapshot(sql))[0]).toMatchObject({ paused: false });
      // Callers get copies.
      (await generatorSnapshot(sql))[0]!.registryName = "changed";
      expect((await generatorSnapshot(sql))[0]!.registryName).toBe("docker");
    });
  });
});
