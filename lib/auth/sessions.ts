import type { Db } from "../db";
import { AppError } from "../errors";
import { authCacheOf, cachedCredential } from "./cache";
import { dummyHash, verifyPassword } from "./password";
import { isRole } from "./roles";
import { csrfTokenFor, newSessionSecret, sha256Hex } from "./secrets";
import { toUser, USER_SELECT, type User } from "./users";
import type { RequestMeta, Viewer } from "./viewer";

export interface NewSession {
  /** The cookie value. Only its hash is stored. */
  secret: string;
  csrfToken: string;
  expiresAt: Date;
  user: User;
}

/**
 * Failed logins per username in this process. After MAX_FAILURES within WINDOW_MS further tries
 * are refused (RATE_LIMITED) until the window passes: online guessing is slowed to a crawl without
 * letting an attacker lock a user out for long.
 */
const WINDOW_MS = 10 * 60_000;
const MAX_FAILURES = 10;
const failures = new Map<string, { count: number; since: number }>();

function throttled(key: string): boolean {
  const f = failures.get(key);
  if (!f) return false;
  if (Date.now() - f.since > WINDOW_MS) {
    failures.delete(key);
    return false;
  }
  return f.count >= MAX_FAILURES;
}

function noteFailure(key: string): void {
  const f = failures.get(key);
  if (!f || Date.now() - f.since > WINDOW_MS) failures.set(key, { count: 1, since: Date.now() });
  else f.count++;
  if (failures.size > 10_000) failures.clear();
}

/**
 * Checks a username and password and opens a session. Every failure is the same UNAUTHENTICATED
 * ("wrong username or password"), whether the user is unknown, disabled or the password wrong.
 */
export async function login(db: Db, input: { username: string; password: string }, meta: RequestMeta, ttlMs: number): Promise<NewSession> {
  const key = input.username.toLowerCase();
  if (throttled(key)) throw new AppError("RATE_LIMITED", "too many failed sign-ins for this user; try again later");
  const row = input.username.length <= 64 ? await db.userAccount.findUnique({ where: { username: input.username }, select: { ...USER_SELECT, passwordHash: true } }) : null;
  const ok = await verifyPassword(input.password, row?.passwordHash ?? (await dummyHash()));
  if (!row || !ok || row.disabled) {
    noteFailure(key);
    throw new AppError("UNAUTHENTICATED", "wrong username or password");
  }
  failures.delete(key);
  const secret = newSessionSecret();
  const expiresAt = new Date(Date.now() + ttlMs);
  const opened = await db.$transaction(async (tx) => {
    // Only while the user still has the password just checked and is enabled: a password change
    // or a disable committed since the read above ends every session, and must end this one too.
    // The UPDATE also locks the user's row, so a change arriving now waits and then ends it.
    const still = await tx.userAccount.updateMany({ where: { id: row.id, passwordHash: row.passwordHash, disabled: false }, data: { lastLoginAt: new Date() } });
    if (still.count === 0) return false;
    await tx.userSession.create({
      data: { id: sha256Hex(secret), userId: row.id, expiresAt, ip: meta.ip?.slice(0, 100) ?? null, userAgent: meta.userAgent?.slice(0, 300) ?? null },
    });
    // Expired sessions are swept here rather than by a timer: logins are rare and this is cheap.
    await tx.userSession.deleteMany({ where: { expiresAt: { lt: new Date() } } });
    return true;
  });
  if (!opened) throw new AppError("UNAUTHENTICATED", "wrong username or password");
  const { passwordHash: _omit, ...user } = row;
  return { secret, csrfToken: csrfTokenFor(secret), expiresAt, user: toUser(user) };
}

/**
 * The viewer behind a session cookie, or null when it is unknown, expired or its user disabled.
 * Served from the credential cache when `db` has one (lib/auth/cache.ts: logout and user changes
 * still take effect at once).
 */
export async function resolveSession(db: Db, secret: string): Promise<Viewer | null> {
  if (secret.length < 20 || secret.length > 200) return null;
  const id = sha256Hex(secret);
  return cachedCredential(
    db,
    id,
    async () => {
      const s = await db.userSession.findUnique({ where: { id }, select: { expiresAt: true, lastSeenAt: true, user: { select: { id: true, username: true, role: true, disabled: true } } } });
      if (!s || s.expiresAt.getTime() <= Date.now() || s.user.disabled || !isRole(s.user.role)) return null;
      return {
        viewer: { userId: s.user.id, username: s.user.username, role: s.user.role, via: "session", sessionId: id, csrfToken: csrfTokenFor(secret) },
        touchedAt: s.lastSeenAt,
        expiresAt: s.expiresAt,
      };
    },
    () => db.userSession.updateMany({ where: { id }, data: { lastSeenAt: new Date() } }),
  );
}

/** Ends a session (logout). Idempotent; this process's credential cache forgets it at once. */
export async function endSession(db: Db, sessionId: string): Promise<void> {
  await db.userSession.deleteMany({ where: { id: sessionId } });
  authCacheOf(db)?.clear();
}
