/**
 * The memory child of bench/oci-throughput.ts: streams one blob through RegistryClient into a
 * sink that discards it and prints peak RSS. Kept apart so that it can be bundled alone and run
 * as plain JavaScript under `node` (no TypeScript loader in the measurement).
 */
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { RegistryClient } from "../lib/oci";

export const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

/** Streams `digest` (size 0: no download, the baseline) and prints `{ maxRssMiB, beforeMiB, seconds }`. */
export async function childStream(url?: string, repo?: string, digest?: string, sizeText?: string): Promise<void> {
  const size = Number(sizeText);
  const client = new RegistryClient({ url: url! });
  const before = process.resourceUsage().maxRSS / 1024;
  const t0 = performance.now();
  if (size > 0) await pipeline(await client.getBlob(repo!, digest!, { expectedSize: size }), sink());
  const s = (performance.now() - t0) / 1000;
  await client.close();
  process.stdout.write(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, beforeMiB: before, seconds: s }) + "\n");
}
