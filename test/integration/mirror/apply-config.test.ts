/**
 * Config-file registries applied to a real Postgres: two processes starting at once on a fresh
 * database (two Prisma clients, one database) both succeed and create each registry once, and a
 * re-apply of an unchanged file reports nothing although jsonb stored the keys in its own order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../../lib/db";
import { applyRegistryConfig, parseConfiguredRegistries } from "../../../lib/mirror";
import { createLogger } from "../../../lib/observability";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

const log = createLogger({ level: "silent" });

/** Keys deliberately not in jsonb's order (shorter keys first, then bytewise). */
const entry = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  urls: ["https://registry.example.test"],
  pollInterval: "1h",
  tlsVerify: true,
  content: [{ prefix: "library/**", tags: { regex: "^3\\." } }],
  maxRetries: 2,
  ...extra,
});

describe("applyRegistryConfig", () => {
  let tdb: TestDatabase;
  let a: Db;
  let b: Db;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    a = createPrismaClient(tdb.url);
    b = createPrismaClient(tdb.url);
  }, 60_000);

  afterAll(async () => {
    await a?.$disconnect();
    await b?.$disconnect();
    await tdb?.drop();
  });

  it("lets two appliers start at once on a fresh database: each registry is created once, nothing fails", async () => {
    const file = parseConfiguredRegistries(Array.from({ length: 8 }, (_, i) => entry(`both-${i}`)));
    const results = await Promise.all([applyRegistryConfig(a, file, log), applyRegistryConfig(b, file, log)]);
    const created = results.flatMap((r) => r.created).sort();
    expect(created).toEqual(file.map((f) => f.parsed.name).sort());
    // Whichever came second found the registries as the first left them.
    expect(results.flatMap((r) => [...r.updated, ...r.disabled])).toEqual([]);
    expect(await a.registry.count({ where: { name: { startsWith: "both-" } } })).toBe(8);
  });

  it("reports nothing updated when the file did not change, and only what changed otherwise", async () => {
    const first = parseConfiguredRegistries([entry("same-1"), entry("same-2")]);
    const applied = await applyRegistryConfig(a, first, log);
    expect(applied.created).toEqual(["same-1", "same-2"]);
    expect(applied.disabled).toHaveLength(8); // the previous test's registries left the file
    // Postgres really did reorder the keys: a string comparison would see a change.
    const stored = await a.registry.findUniqueOrThrow({ where: { name: "same-1" } });
    expect(Object.keys(stored.config as object)).not.toEqual(Object.keys(entry("same-1")).filter((k) => k !== "name").concat("x-ferry-source"));

    // The same file again, parsed afresh (a SIGHUP with no edit).
    expect(await applyRegistryConfig(a, parseConfiguredRegistries([entry("same-1"), entry("same-2")]), log)).toEqual({ created: [], updated: [], disabled: [] });

    // One value changed deep inside: only that registry is updated.
    const edited = await applyRegistryConfig(a, parseConfiguredRegistries([entry("same-1"), entry("same-2", { content: [{ prefix: "library/**", tags: { regex: "^4\\." } }] })]), log);
    expect(edited).toEqual({ created: [], updated: ["same-2"], disabled: [] });
  });
});
