import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client";

export type Db = ReturnType<typeof createPrismaClient>;

/**
 * Prisma on node-postgres. Secrets are omitted by default at this layer so no query can leak
 * them by forgetting a `select`; code that needs one asks with `omit: { secret: false }`.
 */
export function createPrismaClient(connectionString: string, options: { poolSize?: number } = {}) {
  const adapter = new PrismaPg({ connectionString, max: options.poolSize ?? 10 });
  return new PrismaClient({ adapter, omit: { registry: { secret: true } } });
}
