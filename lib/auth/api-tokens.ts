import type { Db } from "../db";
import { AppError } from "../errors";
import { authCacheOf, cachedCredential } from "./cache";
import { isRole, minRole, type Role } from "./roles";
import { newApiToken, sha256Hex, TOKEN_PREFIX } from "./secrets";
import type { Viewer } from "./viewer";

/** An API token as lists show it: never the token, never its hash. */
export interface ApiTokenInfo {
  id: string;
  name: string;
  role: Role;
  owner: string;
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const SELECT = { id: true, name: true, role: true, prefix: true, createdAt: true, expiresAt: true, lastUsedAt: true, revokedAt: true, user: { select: { username: true } } } as const;

type Row = { id: string; name: string; role: string; prefix: string; createdAt: Date; expiresAt: Date | null; lastUsedAt: Date | null; revokedAt: Date | null; user: { username: string } };

function toInfo(r: Row): ApiTokenInfo {
  const { user, ...rest } = r;
  return { ...rest, role: isRole(r.role) ? r.role : "viewer", owner: user.username };
}

/**
 * Creates a token for `owner`. The token is returned here once and never again: only its SHA-256
 * is stored. A token's role may not exceed its creator's.
 */
export async function createApiToken(db: Db, owner: Viewer, input: { name: string; role: Role; expiresAt?: Date | null }): Promise<{ token: string; info: ApiTokenInfo }> {
  if (minRole(input.role, owner.role) !== input.role) throw new AppError("FORBIDDEN", `a ${owner.role} cannot create a token with role ${input.role}`);
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) throw new AppError("BAD_USER_INPUT", "expiresAt must be in the future", { details: { field: "expiresAt" } });
  const token = newApiToken();
  const row = await db.apiToken.create({
    data: { userId: owner.userId, name: input.name, role: input.role, tokenHash: sha256Hex(token), prefix: token.slice(0, TOKEN_PREFIX.length + 6), expiresAt: input.expiresAt ?? null },
    select: SELECT,
  });
  return { token, info: toInfo(row) };
}

export async function listApiTokens(db: Db): Promise<ApiTokenInfo[]> {
  return (await db.apiToken.findMany({ select: SELECT, orderBy: { createdAt: "desc" } })).map(toInfo);
}

/**
 * Revokes a token; it stops working with the next request: this process's credential cache is
 * cleared here, other processes' by the database trigger's notification (lib/auth/cache.ts).
 */
export async function revokeApiToken(db: Db, id: string): Promise<ApiTokenInfo> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new AppError("NOT_FOUND", `token ${id.slice(0, 40)} does not exist`);
  const found = await db.apiToken.findUnique({ where: { id }, select: { revokedAt: true } });
  if (!found) throw new AppError("NOT_FOUND", `token ${id} does not exist`);
  const row = await db.apiToken.update({ where: { id }, data: { revokedAt: found.revokedAt ?? new Date() }, select: SELECT });
  authCacheOf(db)?.clear();
  return toInfo(row);
}

/**
 * The viewer behind a bearer token, or null when unknown, revoked, expired or its owner disabled.
 * `last_used_at` is written at most once a minute per token, so a busy script does not turn every
 * read into a write. Served from the credential cache when `db` has one (see lib/auth/cache.ts
 * for how revocation stays immediate).
 */
export async function resolveApiToken(db: Db, token: string): Promise<Viewer | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const tokenHash = sha256Hex(token);
  return cachedCredential(
    db,
    tokenHash,
    async () => {
      const t = await db.apiToken.findUnique({
        where: { tokenHash },
        select: { id: true, role: true, expiresAt: true, revokedAt: true, lastUsedAt: true, user: { select: { id: true, username: true, role: true, disabled: true } } },
      });
      if (!t || t.revokedAt || (t.expiresAt && t.expiresAt.getTime() <= Date.now()) || t.user.disabled) return null;
      if (!isRole(t.role) || !isRole(t.user.role)) return null;
      return {
        viewer: { userId: t.user.id, username: t.user.username, role: minRole(t.role, t.user.role), via: "token", tokenId: t.id },
        touchedAt: t.lastUsedAt,
        expiresAt: t.expiresAt,
      };
    },
    () => db.apiToken.updateMany({ where: { tokenHash }, data: { lastUsedAt: new Date() } }),
  );
}
