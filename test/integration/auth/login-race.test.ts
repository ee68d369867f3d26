/**
 * A sign-in racing a password change, against a real database. Changing a password ends every
 * session of the user (the way to shut out someone who learnt it); a sign-in with the old password
 * that read the user just before the change, and opened its session just after, must not keep a
 * session the change was meant to end. The interleaving is forced: the change runs at the exact
 * point where the sign-in has read the user (a Prisma query hook).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, login, resolveSession, updateUser } from "../../../lib/auth";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { withReadHook } from "../../helpers/race";

describe("a sign-in racing a password change", () => {
  let tdb: TestDatabase;
  let db: Db;
  let hooked: Db;
  let afterNextRead: (run: () => Promise<void>) => void;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    ({ db: hooked, afterNextRead } = withReadHook(db, "userAccount"));
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tdb?.drop();
  });

  const meta = { ip: "127.0.0.1", userAgent: "test" };

  it("opens no session with the old password once the change is committed", async () => {
    await createUser(db, { username: "alice", password: "old password here", role: "operator" });
    let changed = false;
    afterNextRead(async () => {
      await updateUser(db, "alice", { password: "new password here" });
      changed = true;
    });
    const outcome = await login(hooked, { username: "alice", password: "old password here" }, meta, 60_000).then(
      async (s) => ((await resolveSession(db, s.secret)) ? "session open with the old password" : "session ended"),
      (err: unknown) => (err as { code?: string }).code,
    );
    expect(changed).toBe(true);
    expect(outcome).toBe("UNAUTHENTICATED");
    // The new password works; the old one no longer does.
    await expect(login(db, { username: "alice", password: "old password here" }, meta, 60_000)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    const s = await login(db, { username: "alice", password: "new password here" }, meta, 60_000);
    expect(await resolveSession(db, s.secret)).toMatchObject({ username: "alice" });
  });

  it("opens no session for a user disabled after the password was checked", async () => {
    await createUser(db, { username: "bob", password: "bob password here", role: "viewer" });
    afterNextRead(async () => void (await updateUser(db, "bob", { disabled: true })));
    await expect(login(hooked, { username: "bob", password: "bob password here" }, meta, 60_000)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect(await db.userSession.count({ where: { user: { username: "bob" } } })).toBe(0);
  });
});
