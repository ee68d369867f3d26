/**
 * The last-enabled-admin rule under concurrency, against a real database: admins demoting,
 * disabling or deleting each other at the same moment must leave one enabled admin. Each change's
 * check and write run under one advisory lock; checked separately, every change would see the
 * others still enabled and all would pass.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, deleteUser, listUsers, updateUser } from "../../../lib/auth";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

describe("the last enabled admin", () => {
  let tdb: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tdb?.drop();
  });

  const enabledAdmins = async () => (await listUsers(db)).filter((u) => u.role === "admin" && !u.disabled).map((u) => u.username);
  const codes = (results: PromiseSettledResult<unknown>[]) =>
    results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as { code?: string }).code)).sort();

  it("survives five admins disabling, demoting and deleting each other at once", async () => {
    const names = ["a1", "a2", "a3", "a4", "a5"];
    for (const username of names) await createUser(db, { username, password: "correct horse battery", role: "admin" });
    const results = await Promise.allSettled([
      updateUser(db, "a1", { disabled: true }),
      updateUser(db, "a2", { role: "viewer" }),
      deleteUser(db, "a3"),
      updateUser(db, "a4", { disabled: true }),
      updateUser(db, "a5", { role: "operator" }),
    ]);
    expect(codes(results)).toEqual(["CONFLICT", "ok", "ok", "ok", "ok"]);
    expect(await enabledAdmins()).toHaveLength(1);
  });

  it("still lets an admin go while another remains, and refuses the last one alone", async () => {
    await createUser(db, { username: "b1", password: "correct horse battery", role: "admin" });
    const [last] = await enabledAdmins();
    expect(last).toBeDefined();
    await updateUser(db, last!, { disabled: true });
    expect(await enabledAdmins()).toEqual(["b1"]);
    await expect(deleteUser(db, "b1")).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(updateUser(db, "nobody", { disabled: true })).rejects.toMatchObject({ code: "NOT_FOUND" });
    // A disabled admin is no admin to keep: deleting it needs no other.
    await deleteUser(db, last!);
    expect((await listUsers(db)).map((u) => u.username)).not.toContain(last);
  });
});
