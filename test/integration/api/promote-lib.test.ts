/**
 * promoteRepository against a real database, below HTTP: concurrent promotions of one registry
 * all land (the row lock serialises the read-modify-write), a registry with a sealed client key
 * validates with it, the implicit catch-all is already periodic, and a registry from the config
 * file is refused (the file would undo it at the next start).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, promoteRepository, type ApiEnv } from "../../../lib/api";
import { createPrismaClient, type Db } from "../../../lib/db";
import { createLogger } from "../../../lib/observability";
import { sqlFromPrisma } from "../../../lib/scheduler";
import { ContentRules, parseContentRules } from "../../../lib/sync";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { TLS } from "../../helpers/tls-fixtures";

describe("promoteRepository in the database", () => {
  let tdb: TestDatabase;
  let db: Db;
  let env: ApiEnv;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    // What promotion uses of the API environment: the database and the sealing key.
    env = { db, sql: sqlFromPrisma(db), log: createLogger({ level: "silent" }), databaseUrl: tdb.url, secretKey: randomBytes(32) } as unknown as ApiEnv;
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tdb?.drop();
  });

  it("lands every one of many concurrent promotions, each before the rule that served it", async () => {
    await createRegistry(env, {
      name: "hub",
      urls: ["https://hub.example"],
      onDemand: true,
      pollInterval: "6h",
      clientCert: TLS.clientCert,
      clientKey: TLS.clientKey,
      content: [{ prefix: "team/**" }, { prefix: "**", destination: "cache", periodic: false, tags: { excludeRegex: "-rc" } }],
    });
    const repos = ["a", "b", "c", "d", "e", "f"].map((x) => `cache/library/${x}`);
    const results = await Promise.all(repos.map((r) => promoteRepository(env, "hub", r)));
    expect(results.map((r) => r.added)).toEqual(repos.map(() => true));
    const row = await db.registry.findUniqueOrThrow({ where: { name: "hub" } });
    const content = (row.config as { content: Array<{ prefix: string; tags?: unknown }> }).content;
    expect(content).toHaveLength(8);
    expect(content[0]!.prefix).toBe("team/**");
    expect(content[7]!.prefix).toBe("**");
    expect(content.slice(1, 7).map((c) => c.prefix).sort()).toEqual(repos.map((r) => r.replace("cache/", "")));
    expect(content[3]!.tags).toEqual({ excludeRegex: "-rc" });
    const rules = new ContentRules(parseContentRules(content));
    for (const r of repos) {
      expect(rules.inRounds(r.replace("cache/", ""))).toBe(true);
      expect(rules.localRepoFor(r.replace("cache/", ""))).toBe(r);
    }
    expect(rules.inRounds("library/zzz")).toBe(false);
    // Secrets stay sealed, not copied into the config.
    expect(JSON.stringify(row.config)).not.toContain("PRIVATE KEY");
    // Again: nothing added.
    expect((await promoteRepository(env, "hub", repos[0]!)).added).toBe(false);
    expect(((await db.registry.findUniqueOrThrow({ where: { name: "hub" } })).config as { content: unknown[] }).content).toHaveLength(8);
  });

  it("finds a registry without rules already periodic, and refuses a config-file registry", async () => {
    await createRegistry(env, { name: "all", urls: ["https://all.example"], pollInterval: "1h" });
    expect(await promoteRepository(env, "all", "x/y")).toMatchObject({ added: false, upstreamRepository: "x/y", rule: { prefix: "**" } });
    await db.registry.create({ data: { name: "file", config: { urls: ["https://file.example"], pollInterval: "1h", onDemand: true, "x-ferry-source": "config-file" } } });
    await expect(promoteRepository(env, "file", "x/y")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/config file/) });
    await expect(promoteRepository(env, "missing", "x/y")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
