/**
 * Child process for the store's crash and concurrency tests.
 *   writer.ts crash <root>                  commit random images forever (until SIGKILLed)
 *   writer.ts commits <root> <repo> <prefix> <count>   commit <count> tags, then exit 0
 * Prints "ready" once the store is open.
 */
import { randomBytes, randomInt } from "node:crypto";
import { Readable } from "node:stream";
import { MEDIA_TYPES, openStore, type Store } from "../../../lib/store";
import { blob, imageManifest } from "../../unit/store/fixtures";

const [mode, root, ...rest] = process.argv.slice(2);
if (root === undefined) throw new Error("usage: writer.ts crash|commits <root> ...");

/** Streams in small chunks with yields, so a kill can land in the middle of a write. */
function slowBody(bytes: Buffer): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= bytes.length) return void this.push(null);
      const n = Math.min(bytes.length - off, 64 * 1024);
      const chunk = bytes.subarray(off, off + n);
      off += n;
      setImmediate(() => this.push(chunk));
    },
  });
}

async function commitOne(store: Store, repo: string, tag: string, layers: Buffer[]): Promise<void> {
  const config = blob(JSON.stringify({ tag, at: Date.now(), r: randomBytes(4).toString("hex") }));
  const ls = layers.map((b) => blob(b));
  const manifest = imageManifest(config, ls);
  const staging = await store.stage(repo);
  try {
    await staging.writeBlob(config.digest, config.size, slowBody(config.bytes));
    for (const l of ls) await staging.writeBlob(l.digest, l.size, slowBody(l.bytes));
    await staging.writeManifest(manifest.bytes, { mediaType: MEDIA_TYPES.ociManifest });
    staging.tag(tag, manifest.digest);
    await store.commitAll(repo, staging);
  } finally {
    await store.cleanupImage(staging);
  }
}

const store = await openStore(root);
process.stdout.write("ready\n");

if (mode === "crash") {
  const shared = randomBytes(300 * 1024);
  for (let i = 0; ; i++) {
    const repo = ["crash/a", "crash/b", "crash/c"][i % 3] as string;
    const layers = Array.from({ length: randomInt(1, 4) }, () => randomBytes(randomInt(1, 1_500_000)));
    if (i % 2 === 0) layers.push(shared);
    await commitOne(store, repo, `t${randomInt(0, 6)}`, layers);
    if (i % 5 === 4) await store.deleteTag(repo, `t${randomInt(0, 6)}`).catch(() => undefined);
    if (i % 7 === 6) await store.gc({ gracePeriodMs: 0 });
  }
} else if (mode === "commits") {
  const [repo, prefix, count] = rest;
  for (let i = 0; i < Number(count); i++) {
    await commitOne(store, repo as string, `${prefix}-${i}`, [randomBytes(1024)]);
  }
}
