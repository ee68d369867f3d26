import type { Db } from "../db";
import { AppError } from "../errors";

/**
 * The scheduler's SQL goes through this one narrow door: raw statements (SKIP LOCKED claims,
 * ON CONFLICT dedupe, CASE-based transitions) that Prisma's query builder cannot express, run on
 * Prisma's own connection pool so there is one pool per process.
 */
export interface Sql {
  query<T>(text: string, ...params: unknown[]): Promise<T[]>;
}

/**
 * Every scheduler statement is short. One that has not answered in this long is stuck on a
 * connection that died under it (seen when Postgres restarts mid-query), and a worker awaiting
 * it would stall forever; failing it lets the worker retry on a fresh connection.
 */
export const SCHEDULER_QUERY_TIMEOUT_MS = 15_000;

export function sqlFromPrisma(db: Db, timeoutMs = SCHEDULER_QUERY_TIMEOUT_MS): Sql {
  return {
    query: <T>(text: string, ...params: unknown[]) =>
      new Promise<T[]>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new AppError("DATABASE_UNAVAILABLE", `database did not answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
        db.$queryRawUnsafe<T[]>(text, ...params).then(
          (rows) => {
            clearTimeout(timer);
            resolve(rows);
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err as Error);
          },
        );
      }),
  };
}
