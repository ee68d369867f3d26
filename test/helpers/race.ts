/**
 * Forcing an interleaving instead of hoping for one: the request under test reads a row, and at
 * that exact point (a Prisma query hook) a second request runs, to its end or until Postgres makes
 * it wait for a lock the first one holds.
 */
import type { Db } from "../../lib/db";
import { waitFor } from "./wait";

type FindUnique = (o: { args: unknown; query: (args: unknown) => Promise<unknown> }) => Promise<unknown>;

/** `db` with a hook: `afterNextRead(run)` runs `run` once, right after the next `findUnique` of `model` returned. */
export function withReadHook(db: Db, model: "registry" | "userAccount"): { db: Db; afterNextRead: (run: () => Promise<void>) => void } {
  let pending: (() => Promise<void>) | null = null;
  const findUnique: FindUnique = async ({ args, query }) => {
    const row = await query(args);
    const run = pending;
    pending = null;
    if (run) await run();
    return row;
  };
  const hooked = db.$extends({ query: { [model]: { findUnique } } } as unknown as Parameters<Db["$extends"]>[0]) as unknown as Db;
  return { db: hooked, afterNextRead: (run) => void (pending = run) };
}

/** Lets `other` run until it ends or waits on a lock (any backend of `db`'s database waiting on one). */
export async function runUntilEndOrBlocked(db: Db, other: Promise<unknown>): Promise<void> {
  let settled = false;
  other.then(
    () => (settled = true),
    () => (settled = true),
  );
  await waitFor(
    "the concurrent request to end or wait for a lock",
    async () => {
      if (settled) return true;
      const rows = await db.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return rows[0]!.n > 0;
    },
    20_000,
    5,
  );
}
