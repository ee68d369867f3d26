import type { Db } from "../db";
import { Prisma } from "../db/generated/client";
import type { Logger } from "../observability";
import type { RequestMeta, Viewer } from "./viewer";

/** How an audited action ended: done; refused by policy (401/403/CSRF); or failed (any other error). */
export type AuditOutcome = "success" | "denied" | "failed";

export interface AuditEntry {
  viewer: Viewer | null;
  /** For sign-in attempts, the name that was tried (there is no viewer yet). */
  actorName?: string;
  action: string;
  target?: string | null;
  meta: RequestMeta;
  outcome: AuditOutcome;
  errorCode?: string | null;
  /** Safe, small facts (never secrets, never request bodies). */
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  id: string;
  at: Date;
  actor: string;
  actorId: string | null;
  via: string;
  tokenId: string | null;
  action: string;
  target: string | null;
  ip: string | null;
  userAgent: string | null;
  outcome: AuditOutcome;
  errorCode: string | null;
  details: unknown;
}

/**
 * Appends to the audit log. Failure to write is logged, not thrown: the action it describes has
 * already happened (or been refused) and the caller's answer must not change because of it.
 */
export async function recordAudit(db: Db, entry: AuditEntry, log?: Logger): Promise<void> {
  try {
    await db.auditLog.create({
      data: {
        actorId: entry.viewer?.userId ?? null,
        actor: (entry.viewer?.username ?? entry.actorName ?? "anonymous").slice(0, 100),
        via: entry.viewer?.via ?? "anonymous",
        tokenId: entry.viewer?.tokenId ?? null,
        action: entry.action,
        target: entry.target?.slice(0, 300) ?? null,
        ip: entry.meta.ip,
        userAgent: entry.meta.userAgent,
        outcome: entry.outcome,
        errorCode: entry.errorCode ?? null,
        details: entry.details === undefined ? Prisma.DbNull : (entry.details as Prisma.InputJsonValue),
      },
    });
  } catch (err) {
    log?.error({ err, action: entry.action }, "audit log write failed");
  }
}

export interface AuditQuery {
  actor?: string | undefined;
  action?: string | undefined;
  /** Only entries older than this id (cursor from the previous page). */
  before?: string | undefined;
  limit: number;
}

/** Newest first, cursor-paginated by id. */
export async function listAudit(db: Db, q: AuditQuery): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
  const rows = await db.auditLog.findMany({
    where: {
      ...(q.actor ? { actor: q.actor } : {}),
      ...(q.action ? { action: q.action } : {}),
      ...(q.before ? { id: { lt: BigInt(q.before) } } : {}),
    },
    orderBy: { id: "desc" },
    take: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  return {
    items: page.map((r) => ({ ...r, id: String(r.id), outcome: r.outcome as AuditOutcome })),
    nextCursor: rows.length > q.limit ? String(page[page.length - 1]!.id) : null,
  };
}
