import type { Db } from "../db";
import { AppError } from "../errors";
import { checkPasswordPolicy, hashPassword } from "./password";
import { isRole, type Role } from "./roles";

/** A user as everything outside lib/auth sees it: never the password hash. */
export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  lastLoginAt: Date | null;
}

/** Columns that may leave this module. `passwordHash` is selected only by `login`. */
export const USER_SELECT = { id: true, username: true, role: true, disabled: true, createdAt: true, updatedAt: true, lastLoginAt: true } as const;

const USERNAME = /^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$/;

export function checkUsername(username: string): void {
  if (!USERNAME.test(username)) {
    throw new AppError("BAD_USER_INPUT", "username must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", { details: { field: "username" } });
  }
}

export function toUser(row: { id: string; username: string; role: string; disabled: boolean; createdAt: Date; updatedAt: Date; lastLoginAt: Date | null }): User {
  return { ...row, role: isRole(row.role) ? row.role : "viewer" };
}

export async function createUser(db: Db, input: { username: string; password: string; role: Role }): Promise<User> {
  checkUsername(input.username);
  checkPasswordPolicy(input.password);
  const passwordHash = await hashPassword(input.password);
  try {
    return toUser(await db.userAccount.create({ data: { username: input.username, passwordHash, role: input.role }, select: USER_SELECT }));
  } catch (err) {
    if ((err as { code?: string }).code === "P2002") throw new AppError("CONFLICT", `user ${input.username} already exists`);
    throw err;
  }
}

export async function listUsers(db: Db): Promise<User[]> {
  return (await db.userAccount.findMany({ select: USER_SELECT, orderBy: { username: "asc" } })).map(toUser);
}

export async function getUserByName(db: Db, username: string): Promise<User | null> {
  const row = await db.userAccount.findUnique({ where: { username }, select: USER_SELECT });
  return row ? toUser(row) : null;
}

/**
 * Changes a user. A new password or disabling ends all their sessions. The last enabled admin
 * cannot be demoted, disabled or deleted: that would lock everyone out of administration.
 */
export async function updateUser(db: Db, username: string, patch: { role?: Role; password?: string; disabled?: boolean }): Promise<User> {
  if (patch.password !== undefined) checkPasswordPolicy(patch.password);
  const data: { role?: Role; passwordHash?: string; disabled?: boolean } = {};
  if (patch.role !== undefined) data.role = patch.role;
  if (patch.disabled !== undefined) data.disabled = patch.disabled;
  if (patch.password !== undefined) data.passwordHash = await hashPassword(patch.password);
  const endSessions = patch.password !== undefined || patch.disabled === true;
  const demotes = (patch.role !== undefined && patch.role !== "admin") || patch.disabled === true;
  return withAdminGuard(db, username, demotes, async (tx, user) => {
    const updated = await tx.userAccount.update({ where: { id: user.id }, data, select: USER_SELECT });
    if (endSessions) await tx.userSession.deleteMany({ where: { userId: user.id } });
    return toUser(updated);
  });
}

export async function deleteUser(db: Db, username: string): Promise<void> {
  await withAdminGuard(db, username, true, async (tx, user) => {
    await tx.userAccount.delete({ where: { id: user.id } });
  });
}

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/**
 * Runs a change to one user in a transaction that first takes the admins lock, so the "another
 * enabled admin remains" check and the change cannot interleave with a concurrent one: two admins
 * disabling each other at once would otherwise both see the other still enabled.
 */
async function withAdminGuard<T>(db: Db, username: string, removesAdmin: boolean, change: (tx: Tx, user: User) => Promise<T>): Promise<T> {
  return db.$transaction(async (tx) => {
    await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext('ferry:admins'))::text AS l`);
    const row = await tx.userAccount.findUnique({ where: { username }, select: USER_SELECT });
    if (!row) throw new AppError("NOT_FOUND", `user ${username} does not exist`);
    const user = toUser(row);
    if (removesAdmin && user.role === "admin" && !user.disabled) {
      const others = await tx.userAccount.count({ where: { role: "admin", disabled: false, id: { not: user.id } } });
      if (others === 0) throw new AppError("CONFLICT", "this is the last enabled admin; create another admin first");
    }
    return change(tx, user);
  });
}

export async function countUsers(db: Db): Promise<number> {
  return db.userAccount.count();
}

/**
 * The first admin from FERRY_ADMIN_USER / FERRY_ADMIN_PASSWORD: created when no user of that name
 * exists. An existing user is left alone (changing the variable later does not reset a password
 * someone changed through the API). Returns whether a user was created.
 */
export async function ensureEnvAdmin(db: Db, username: string | undefined, password: string | undefined): Promise<boolean> {
  if (!username || !password) return false;
  if (await getUserByName(db, username)) return false;
  try {
    await createUser(db, { username, password, role: "admin" });
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "CONFLICT") return false; // another process won the race
    throw err;
  }
}

/**
 * One-time setup: creates the first admin only while there are no users at all. The check and
 * the insert run in one transaction under an advisory lock, so two concurrent setups cannot both
 * succeed.
 */
export async function setupFirstAdmin(db: Db, input: { username: string; password: string }): Promise<User> {
  checkUsername(input.username);
  checkPasswordPolicy(input.password);
  const passwordHash = await hashPassword(input.password);
  return db.$transaction(async (tx) => {
    await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext('ferry:setup'))::text AS l`);
    if ((await tx.userAccount.count()) > 0) throw new AppError("CONFLICT", "setup is already done: sign in instead");
    return toUser(await tx.userAccount.create({ data: { username: input.username, passwordHash, role: "admin" }, select: USER_SELECT }));
  });
}
