/**
 * Registry edits racing each other, against a real database. The interleavings are forced, not
 * hoped for: the edit under test reads the registry, and at that exact point (a Prisma query hook)
 * a second request runs, to its end or until Postgres makes it wait for a lock.
 * - an edit that keeps the stored credentials must not put back the ones it read when another
 *   edit rotated them in between (the rotation answered 200 and would be silently undone);
 * - an edit whose registry is deleted in between ends cleanly (done first, or NOT_FOUND), not 500;
 * - two creates of one name at once: one CONFLICT;
 * - pause, resume, reset and "generator of" for a registry deleted right after their lookup end as
 *   NOT_FOUND (the write's foreign key, mapped in lib/errors), never INTERNAL.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, deleteRegistry, generatorOf, pauseRegistryByName, registryConfigWithSecrets, resetRegistryGenerator, resumeRegistryByName, updateRegistry, type ApiEnv } from "../../../lib/api";
import { toPublicError } from "../../../lib/errors";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createLogger } from "../../../lib/observability";
import { sqlFromPrisma } from "../../../lib/scheduler";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { runUntilEndOrBlocked, withReadHook } from "../../helpers/race";

describe("registry edits racing", () => {
  let tdb: TestDatabase;
  let db: Db;
  let env: ApiEnv;
  let hooked: ApiEnv;
  let afterNextRead: (run: () => Promise<void>) => void;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    const secretKey = randomBytes(32);
    env = { db, sql: sqlFromPrisma(db), log: createLogger({ level: "silent" }), databaseUrl: tdb.url, secretKey } as unknown as ApiEnv;
    const h = withReadHook(db, "registry");
    afterNextRead = h.afterNextRead;
    hooked = { ...env, db: h.db, sql: sqlFromPrisma(h.db) };
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tdb?.drop();
  });

  const base = { urls: ["https://up.example"], onDemand: true };

  it("an edit keeping the credentials does not undo a rotation that landed after its read", async () => {
    await createRegistry(env, { name: "rot", ...base, credentials: { username: "u", password: "old" } });
    let rotation: Promise<unknown> | null = null;
    afterNextRead(async () => {
      rotation = updateRegistry(env, "rot", { name: "rot", ...base, credentials: { username: "u", password: "new" } });
      await runUntilEndOrBlocked(db, rotation);
    });
    // Leaves credentials out: "keep what is stored".
    await updateRegistry(hooked, "rot", { name: "rot", ...base, enabled: false });
    expect(rotation).not.toBeNull();
    await rotation;
    const stored = await registryConfigWithSecrets(env, "rot");
    expect(stored.credentials).toEqual({ username: "u", password: "new" });
  });

  it("an edit whose registry is deleted after its read ends first or as NOT_FOUND, never INTERNAL", async () => {
    await createRegistry(env, { name: "gone", ...base });
    let deletion: Promise<unknown> | null = null;
    afterNextRead(async () => {
      deletion = deleteRegistry(env, "gone");
      await runUntilEndOrBlocked(db, deletion);
    });
    const edit = await updateRegistry(hooked, "gone", { name: "gone", ...base, enabled: false }).then(
      () => "ok",
      (err: unknown) => (err as { code?: string }).code ?? String(err),
    );
    expect(["ok", "NOT_FOUND"]).toContain(edit);
    await deletion;
    expect(await db.registry.findUnique({ where: { name: "gone" } })).toBeNull();
  });

  it("two creates of one name at once: one lands, the other is a CONFLICT", async () => {
    const results = await Promise.allSettled([createRegistry(env, { name: "twin", ...base }), createRegistry(env, { name: "twin", ...base })]);
    expect(results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as { code?: string }).code)).sort()).toEqual(["CONFLICT", "ok"]);
  });

  it.each([
    ["pause", pauseRegistryByName],
    ["resume", resumeRegistryByName],
    ["reset", resetRegistryGenerator],
    ["generator of", generatorOf],
  ] as const)("%s of a registry deleted right after its lookup is NOT_FOUND, never INTERNAL", async (label, op) => {
    const name = `del-${label.replace(/ /g, "-")}`;
    await createRegistry(env, { name, ...base });
    let deletion: Promise<unknown> | null = null;
    afterNextRead(async () => {
      deletion = deleteRegistry(env, name);
      await runUntilEndOrBlocked(db, deletion);
    });
    const logged: unknown[] = [];
    const outcome = await op(hooked, name).then(
      () => "ok",
      (err: unknown) => toPublicError(err, (e) => logged.push(e)),
    );
    await deletion;
    expect(outcome).toMatchObject({ code: "NOT_FOUND" });
    expect(await db.registry.findUnique({ where: { name } })).toBeNull();
  });
});
