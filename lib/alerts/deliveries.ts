/**
 * The delivery history for the API: events newest first, each with its attempts. Webhooks are
 * named, never shown: their URLs and secrets stay in the config file.
 */
import type { Db } from "../db";
import { AppError } from "../errors";

export interface DeliveryQuery {
  webhook?: string | undefined;
  registry?: string | undefined;
  status?: string | undefined;
  type?: string | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
  limit: number;
}

export interface DeliveryView {
  id: string;
  webhook: string;
  registry: string;
  type: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  createdAt: Date;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  payload: unknown;
  attemptLog: Array<{ attempt: number; at: Date; statusCode: number | null; error: string | null; durationMs: number; nextAttemptAt: Date | null }>;
}

/** Cursor: `<createdAt ms>_<id>` of the last item (ids are random, so order by time, then id). */
function parseCursor(cursor: string): { createdAt: Date; id: string } {
  const m = /^(\d{1,15})_([0-9a-f-]{36})$/.exec(cursor);
  if (!m) throw new AppError("BAD_USER_INPUT", "cursor: expected the nextCursor of a previous page");
  return { createdAt: new Date(Number(m[1])), id: m[2]! };
}

export async function listDeliveries(db: Db, q: DeliveryQuery): Promise<{ items: DeliveryView[]; nextCursor: string | null }> {
  const after = q.cursor ? parseCursor(q.cursor) : null;
  const rows = await db.alertEvent.findMany({
    where: {
      ...(q.webhook ? { webhook: q.webhook } : {}),
      ...(q.registry ? { registryName: q.registry } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.type ? { type: q.type } : {}),
      ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: q.limit + 1,
    include: { attemptLog: { orderBy: { attempt: "asc" } } },
  });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      id: r.id,
      webhook: r.webhook,
      registry: r.registryName,
      type: r.type,
      status: r.status,
      attempts: r.attempts,
      maxAttempts: r.maxAttempts,
      createdAt: r.createdAt,
      nextAttemptAt: r.status === "pending" ? r.nextAttemptAt : null,
      deliveredAt: r.deliveredAt,
      payload: r.payload,
      attemptLog: r.attemptLog.map((a) => ({ attempt: a.attempt, at: a.at, statusCode: a.statusCode, error: a.error, durationMs: a.durationMs, nextAttemptAt: a.nextAttemptAt })),
    })),
    nextCursor: rows.length > q.limit && last ? `${last.createdAt.getTime()}_${last.id}` : null,
  };
}
