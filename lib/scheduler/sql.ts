import type { Db } from "../db";

/**
 * The scheduler's SQL goes through this one narrow door: raw statements (SKIP LOCKED claims,
 * ON CONFLICT dedupe, CASE-based transitions) that Prisma's query builder cannot express, run on
 * Prisma's own connection pool (one pool per process; every call bounded by lib/db's timeout).
 */
export interface Sql {
  query<T>(text: string, ...params: unknown[]): Promise<T[]>;
}

export function sqlFromPrisma(db: Db): Sql {
  return { query: <T>(text: string, ...params: unknown[]) => db.$queryRawUnsafe<T[]>(text, ...params) };
}
