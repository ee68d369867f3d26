import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client";

export type Db = ReturnType<typeof createPrismaClient>;

/**
 * Prisma on node-postgres. Secrets (sealed registry credentials, password hashes) are omitted by
 * default at this layer so no query can leak
 * them by forgetting a `select`; code that needs one asks with `omit: { secret: false }`.
 */
export function createPrismaClient(connectionString: string, options: { poolSize?: number } = {}) {
  // Bounded waits: with Postgres down or restarting, a query fails (and its caller retries) instead
  // of hanging on a dead socket or an exhausted pool forever.
  const adapter = new PrismaPg({
    connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    query_timeout: 60_000,
    keepAlive: true,
  });
  return new PrismaClient({ adapter, omit: { registry: { secret: true }, userAccount: { passwordHash: true } } });
}
