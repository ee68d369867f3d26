import type { Db } from "../db";
import { resolveApiToken } from "./api-tokens";
import { dummyHash, verifyPassword } from "./password";
import { isRole } from "./roles";
import { TOKEN_PREFIX } from "./secrets";
import type { Viewer } from "./viewer";

/**
 * HTTP Basic credentials as registry clients send them (`docker login`, `skopeo --creds`): a
 * user's password, or an API token in the password field (its owner's name in the user field).
 * Returns null for anything that does not check out; never says which part was wrong.
 */
export async function authenticateBasic(db: Db, username: string, secret: string): Promise<Viewer | null> {
  if (secret.startsWith(TOKEN_PREFIX)) {
    const viewer = await resolveApiToken(db, secret);
    return viewer && viewer.username === username ? viewer : null;
  }
  const row =
    username.length <= 64
      ? await db.userAccount.findUnique({ where: { username }, select: { id: true, username: true, role: true, disabled: true, passwordHash: true } })
      : null;
  const ok = await verifyPassword(secret, row?.passwordHash ?? (await dummyHash()));
  if (!row || !ok || row.disabled || !isRole(row.role)) return null;
  return { userId: row.id, username: row.username, role: row.role, via: "session" };
}

/** Parses `Authorization: Basic …`; null when absent or malformed. */
export function parseBasic(header: string | undefined | null): { username: string; secret: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header?.trim() ?? "");
  if (!m) return null;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const i = text.indexOf(":");
  if (i <= 0) return null;
  return { username: text.slice(0, i), secret: text.slice(i + 1) };
}
