/**
 * lib/scheduler at scale (issue 6): a task table with 1,000,000 rows of history.
 *
 *   npx tsx bench/scheduler-scale.ts [--rows 1000000] [--registries 20] [--queued 1000] [--runs 300] [--explain]
 *                                    [--without-task-indexes]
 *
 * A fresh embedded Postgres in a temp dir, migrated as Ferry migrates it at start. History is made
 * with one `INSERT ... SELECT generate_series` (seeded random: ~92% succeeded, ~6% failed, ~2%
 * cancelled; 80% generator rounds, 15% on-demand, 5% operator; two seconds apart, so the newest
 * rows are the most recent), then `--queued` live tasks and 8 running ones, then VACUUM ANALYZE.
 * Measured, one call after the other (p50/p95/p99 over `--runs` calls after 10 warm-ups):
 *   (a) lib/api listTasks (the code path of GET /api/v1/tasks and GraphQL `tasks`): newest 50 of one
 *       registry filtered by status, for each status an operator filters by;
 *   (b) lib/scheduler claim() with `--queued` tasks queued; after each timed claim the task is
 *       completed and a new one queued (untimed), so the queue stays the same size;
 *   (c) saveGenerator with an empty history and again with the full history;
 *   (d) generatorSnapshot (GET /api/v1/generators), empty vs full history.
 * Everything stops by itself; Postgres and the temp dir are removed at the end (also on Ctrl-C).
 */
import { parseArgs } from "node:util";
import type { ApiEnv } from "../lib/api/env";
import { listTasks } from "../lib/api/tasks";
import { createPrismaClient, type Db } from "../lib/db";
import { claim, complete, enqueue, generatorSnapshot, PRIORITY, sqlFromPrisma, type Sql } from "../lib/scheduler";
import { saveGenerator } from "../lib/scheduler/generator-state";
import { fmt, onInterrupt, startBenchPostgres, summarize, timeRuns, type Summary } from "./harness";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    registries: { type: "string", default: "20" },
    queued: { type: "string", default: "1000" },
    runs: { type: "string", default: "300" },
    explain: { type: "boolean", default: false },
    // For a before/after comparison: drop the indexes of migration 20261129190000_task_indexes.
    "without-task-indexes": { type: "boolean", default: false },
  },
});
const ROWS = Number(values.rows);
const REGISTRIES = Number(values.registries);
const QUEUED = Number(values.queued);
const RUNS = Number(values.runs);

const results: { what: string; s: Summary; target?: string }[] = [];
function record(what: string, samples: number[], target?: string): void {
  const s = summarize(samples);
  results.push({ what, s, ...(target ? { target } : {}) });
  console.log(`${what.padEnd(58)} ${fmt(s)}${target ? `  (target ${target})` : ""}`);
}

async function seedRegistries(db: Db): Promise<{ id: string; name: string }[]> {
  const out: { id: string; name: string }[] = [];
  for (let i = 0; i < REGISTRIES; i++) {
    const name = `reg-${String(i).padStart(2, "0")}`;
    const r = await db.registry.create({ data: { name, config: { name, urls: [`https://${name}.example`] } }, select: { id: true, name: true } });
    out.push(r);
  }
  await db.$executeRawUnsafe(`INSERT INTO generator_state (registry_id, round, phase) SELECT id, 0, 'syncing' FROM registry`);
  return out;
}

async function insertHistory(db: Db): Promise<void> {
  await db.$executeRawUnsafe(`SELECT setseed(0.42)`);
  // One statement; `regs` is the registry ids as an array so row i picks one at random.
  await db.$executeRawUnsafe(
    `INSERT INTO task (kind, registry_id, repository, reference, priority, status, attempts, max_attempts, trigger,
                       run_after, queued_at, started_at, finished_at, bytes_copied, blobs_copied, blobs_skipped,
                       outcomes, error_code, error_message)
     SELECT CASE WHEN k < 0.80 THEN 'syncRepo' ELSE 'syncImage' END,
            regs[1 + floor(random() * array_length(regs, 1))::int],
            'library/repo-' || floor(random() * 500)::int,
            CASE WHEN k < 0.80 THEN NULL ELSE 'v' || floor(random() * 20)::int END,
            CASE WHEN k < 0.80 THEN 0 WHEN k < 0.95 THEN 100 ELSE 50 END,
            CASE WHEN s < 0.92 THEN 'succeeded' WHEN s < 0.98 THEN 'failed' ELSE 'cancelled' END,
            1, 4,
            CASE WHEN k < 0.80 THEN 'generator:round-' || (i / 5000) WHEN k < 0.95 THEN 'on-demand' ELSE 'user:admin' END,
            ts, ts, ts, ts + interval '3 seconds',
            CASE WHEN s < 0.92 THEN floor(random() * 50000000)::bigint ELSE 0 END, floor(random() * 10)::int, floor(random() * 10)::int,
            CASE WHEN s < 0.92 THEN '[{"tag":"latest","status":"synced"}]'::jsonb ELSE '[]'::jsonb END,
            CASE WHEN s >= 0.92 AND s < 0.98 THEN 'UPSTREAM_UNAVAILABLE' WHEN s >= 0.98 THEN 'CANCELLED' END,
            CASE WHEN s >= 0.92 AND s < 0.98 THEN 'upstream answered 503' WHEN s >= 0.98 THEN 'cancelled by an operator' END
       FROM (SELECT i, random() AS k, random() AS s, now() - (($1::int - i) * interval '2 seconds') - interval '1 hour' AS ts
               FROM generate_series(1, $1::int) AS i) g,
            (SELECT array_agg(id ORDER BY name) AS regs FROM registry) r`,
    ROWS,
  );
  // The generators are in the round the newest history belongs to.
  await db.$executeRawUnsafe(`UPDATE generator_state SET round = $1::int`, Math.floor(ROWS / 5000));
}

async function insertLive(db: Db): Promise<void> {
  // Queued work of the current round plus a few running tasks, as a busy deployment has.
  await db.$executeRawUnsafe(
    `INSERT INTO task (kind, registry_id, repository, priority, status, max_attempts, trigger, dedupe_key, run_after, queued_at)
     SELECT 'syncRepo', regs[1 + (i % array_length(regs, 1))], 'library/live-' || i, 0, 'queued', 4,
            'generator:round-' || $2::int, 'syncRepo|' || regs[1 + (i % array_length(regs, 1))] || '|library/live-' || i || '|',
            now() - interval '1 minute', now() - interval '1 minute'
       FROM generate_series(1, $1::int) AS i, (SELECT array_agg(id ORDER BY name) AS regs FROM registry) r`,
    QUEUED,
    Math.floor(ROWS / 5000),
  );
  await db.$executeRawUnsafe(
    `INSERT INTO task (kind, registry_id, repository, priority, status, attempts, max_attempts, trigger, dedupe_key, started_at, lease_owner, lease_until)
     SELECT 'syncRepo', regs[1 + i], 'library/running-' || i, 0, 'running', 1, 4, 'generator:round-' || $1::int,
            'syncRepo|' || regs[1 + i] || '|library/running-' || i || '|', now(), 'other-worker', now() + interval '1 hour'
       FROM generate_series(1, 8) AS i, (SELECT array_agg(id ORDER BY name) AS regs FROM registry) r`,
    Math.floor(ROWS / 5000),
  );
}

async function benchGenerator(sql: Sql, regs: { id: string }[], label: string): Promise<void> {
  const round = Number(
    (await sql.query<{ round: number }>(`SELECT round FROM generator_state WHERE registry_id = $1::uuid`, regs[0]!.id))[0]?.round ?? 0,
  );
  const samples = await timeRuns(RUNS, (i) =>
    saveGenerator(sql, regs[i % regs.length]!.id, round, {
      state: { lastRepo: `library/repo-${i}`, done: false, waitTimeMs: 0, lastTaskAt: Date.now(), round, roundStartedAt: Date.now() - 60_000 },
      // Alternate the phase now and then so the NOTIFY branch is part of the sample too.
      phase: i % 10 === 0 ? "listing" : "syncing",
    }),
  );
  record(`(c) saveGenerator, ${label}`, samples, "flat in history size");
  const snap = await timeRuns(RUNS, () => generatorSnapshot(sql));
  record(`(d) generatorSnapshot (all ${regs.length}), ${label}`, snap);
}

async function explain(db: Db, label: string, text: string, ...params: unknown[]): Promise<void> {
  if (!values.explain) return;
  const rows = await db.$queryRawUnsafe<{ "QUERY PLAN": string }[]>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, ...params);
  console.log(`--- ${label}\n${rows.map((r) => r["QUERY PLAN"]).join("\n")}`);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const pg = await startBenchPostgres("ferry-bench-sched");
  const db = createPrismaClient(pg.url, { poolSize: 4, queryTimeoutMs: 600_000 });
  const stopInterrupt = onInterrupt(async () => {
    await db.$disconnect().catch(() => {});
    await pg.close();
  });
  try {
    const sql = sqlFromPrisma(db);
    // listTasks needs only the database from the API environment.
    const env = { db, sql } as unknown as ApiEnv;
    if (values["without-task-indexes"]) {
      await db.$executeRawUnsafe(`DROP INDEX task_registry_id_status_id_idx, task_registry_id_trigger_status_idx`);
      console.log("dropped the indexes of 20261129190000_task_indexes (before/after comparison)");
    }
    const regs = await seedRegistries(db);
    console.log(`postgres ready and migrated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    await benchGenerator(sql, regs, "empty history");

    const t1 = performance.now();
    await insertHistory(db);
    await insertLive(db);
    await db.$executeRawUnsafe(`VACUUM ANALYZE task`);
    const n = (await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM task`))[0]!.n;
    const size = (await db.$queryRawUnsafe<{ s: string }[]>(`SELECT pg_size_pretty(pg_total_relation_size('task')) AS s`))[0]!.s;
    console.log(`${n} task rows (${size} with indexes) in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

    await benchGenerator(sql, regs, `${ROWS} rows of history`);

    // (a) newest 50 of one registry by status, rotating through registries.
    for (const status of [["failed"], ["succeeded"], ["cancelled"], ["queued", "retrying"], ["running"]]) {
      const samples = await timeRuns(RUNS, (i) => listTasks(env, { registry: regs[i % regs.length]!.name, status, limit: 50 }));
      record(`(a) listTasks registry + status=${status.join(",")}, limit 50`, samples, "p95 < 20 ms");
    }
    const reg0 = regs[3]!.id;
    await explain(
      db,
      "listTasks failed",
      `SELECT * FROM task WHERE registry_id = $1::uuid AND status IN ('failed') ORDER BY id DESC LIMIT 51`,
      reg0,
    );
    await explain(db, "listTasks queued,retrying", `SELECT * FROM task WHERE registry_id = $1::uuid AND status IN ('queued','retrying') ORDER BY id DESC LIMIT 51`, reg0);

    // (b) claim with QUEUED tasks waiting; refill untimed so the queue keeps its size.
    let round = Math.floor(ROWS / 5000);
    const claimSamples: number[] = [];
    for (let i = 0; i < RUNS + 10; i++) {
      const t = performance.now();
      const task = await claim(sql, "bench-worker", 60_000);
      const ms = performance.now() - t;
      if (!task) throw new Error("queue ran dry");
      if (i >= 10) claimSamples.push(ms);
      await complete(sql, task.id, "bench-worker", { outcomes: [] });
      await enqueue(sql, {
        kind: "syncRepo",
        registryId: regs[i % regs.length]!.id,
        repository: `library/refill-${round}-${i}`,
        priority: PRIORITY.periodic,
        trigger: `generator:round-${round}`,
        maxAttempts: 4,
      });
    }
    round++;
    record(`(b) claim() with ${QUEUED} queued`, claimSamples, "p95 < 5 ms");
    await explain(
      db,
      "claim (SELECT part)",
      `SELECT t.id FROM task t LEFT JOIN generator_state g ON g.registry_id = t.registry_id
        WHERE t.status IN ('queued', 'retrying') AND t.run_after <= now() AND g.paused IS NOT TRUE
        ORDER BY t.priority DESC, t.run_after, t.id LIMIT 1`,
    );
    await explain(
      db,
      "generatorSnapshot subquery (done_n)",
      `SELECT count(*)::int FROM task t WHERE t.registry_id = $1::uuid AND t.trigger = 'generator:round-' || $2::int AND t.status IN ('succeeded', 'failed', 'cancelled')`,
      reg0,
      Math.floor(ROWS / 5000),
    );

    console.log("\n| measurement | n | p50 ms | p95 ms | p99 ms | max ms | target |\n|---|---:|---:|---:|---:|---:|---|");
    for (const r of results) {
      const f = (x: number) => x.toFixed(2);
      console.log(`| ${r.what} | ${r.s.n} | ${f(r.s.p50)} | ${f(r.s.p95)} | ${f(r.s.p99)} | ${f(r.s.max)} | ${r.target ?? ""} |`);
    }
  } finally {
    stopInterrupt();
    await db.$disconnect().catch(() => {});
    await pg.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
