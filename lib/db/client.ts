import { PrismaPg } from "@prisma/adapter-pg";
import { AppError } from "../errors";
import { PrismaClient } from "./generated/client";

export type Db = ReturnType<typeof createPrismaClient>;

/**
 * No single statement of Ferry's takes long. One that has not answered in this time is stuck: the
 * pg driver adapter can leave a query unsettled when its connection dies under it (seen when
 * Postgres restarts mid-query), and whoever awaits it (a worker, a request) would wait forever.
 */
export const QUERY_TIMEOUT_MS = 20_000;

/**
 * Prisma on node-postgres. Secrets (sealed registry credentials, password hashes) are omitted by
 * default at this layer so no query can leak them by forgetting a `select`; code that needs one
 * asks with `omit: { secret: false }`. Every operation is bounded by QUERY_TIMEOUT_MS, and the
 * pool's connection wait too, so with Postgres down or restarting a call fails (and its caller
 * retries) instead of hanging.
 */
export function createPrismaClient(connectionString: string, options: { poolSize?: number; queryTimeoutMs?: number } = {}) {
  const timeoutMs = options.queryTimeoutMs ?? QUERY_TIMEOUT_MS;
  const adapter = new PrismaPg({
    connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  return new PrismaClient({ adapter, omit: { registry: { secret: true }, userAccount: { passwordHash: true } } }).$extends({
    query: {
      $allOperations({ args, query }) {
        return withTimeout(query(args), timeoutMs);
      },
    },
  });
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new AppError("DATABASE_UNAVAILABLE", `the database did not answer within ${ms} ms`)), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}
