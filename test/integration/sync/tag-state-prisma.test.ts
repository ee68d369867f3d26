import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { PrismaTagState } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

describe("PrismaTagState", () => {
  let db: TestDatabase;
  let prisma: Db;
  let registryId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient(db.url, { poolSize: 2 });
    registryId = (await prisma.registry.create({ data: { name: "hub", config: {} } })).id;
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  it("records outcomes, keeping digests across failures and tracking the last change", async () => {
    const tags = new PrismaTagState(prisma);
    const key = { registryId, localRepo: "hub/alpine", tag: "3.20", upstreamRepo: "library/alpine" };
    expect(await tags.get(registryId, "hub/alpine", "3.20")).toBeNull();
    const t1 = new Date("2026-01-01T00:00:00Z");
    await tags.record({ ...key, status: "synced", checkedAt: t1, upstreamDigest: "sha256:aa", localDigest: "sha256:bb", size: 5_000_000_000, platforms: ["linux/amd64"], changedAt: t1 });
    const t2 = new Date("2026-01-01T01:00:00Z");
    await tags.record({ ...key, status: "failed", checkedAt: t2, error: { code: "UPSTREAM_5XX", message: "boom" } });
    expect(await tags.get(registryId, "hub/alpine", "3.20")).toEqual({
      ...key,
      upstreamDigest: "sha256:aa",
      localDigest: "sha256:bb",
      size: 5_000_000_000,
      platforms: ["linux/amd64"],
      status: "failed",
      lastCheckedAt: t2,
      lastChangedAt: t1,
      errorCode: "UPSTREAM_5XX",
      errorMessage: "boom",
    });
    const t3 = new Date("2026-01-01T02:00:00Z");
    await tags.record({ ...key, status: "unchanged", checkedAt: t3, upstreamDigest: "sha256:aa" });
    const row = await prisma.tagSyncState.findFirstOrThrow({ where: { registryId } });
    expect(row).toMatchObject({ status: "unchanged", errorCode: null, errorMessage: null, lastSyncedAt: t3, lastChangedAt: t1 });
  });
});
