/**
 * Child process for file-import.test.ts.
 *   file-import-child.ts once <store root> <file> <digest> <size>
 *     imports one local file through the worker pool and returns without closing anything: the
 *     process must then exit on its own (idle workers are unref'd).
 *   file-import-child.ts loop <store root> <scratch dir>
 *     commits images of freshly written local files (big and small, fsync on) until killed;
 *     prints "ready" after the first commit.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MEDIA_TYPES, openStore } from "../../../lib/store";
import { blob, body, imageManifest } from "./fixtures";

const [mode, root, ...rest] = process.argv.slice(2);
if (root === undefined) throw new Error("usage: file-import-child.ts once|loop <root> ...");

if (mode === "once") {
  const [path, digest, size] = rest;
  if (path === undefined || digest === undefined || size === undefined) throw new Error("once <root> <file> <digest> <size>");
  const store = await openStore(root, { fsync: false });
  const staging = await store.stage("child/app");
  const result = await staging.writeBlobFromFile(digest, Number(size), path);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const scratch = rest[0] as string;
  await mkdir(scratch, { recursive: true });
  const store = await openStore(root);
  for (let i = 0; ; i++) {
    const layers = [randomBytes(3 * 1024 * 1024 + i), ...Array.from({ length: 8 }, () => randomBytes(20_000))];
    const files = await Promise.all(
      layers.map(async (bytes, n) => {
        const path = join(scratch, `${i}-${n}`);
        await writeFile(path, bytes);
        return { path, size: bytes.length, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` };
      }),
    );
    const config = blob(JSON.stringify({ i, r: randomBytes(4).toString("hex") }));
    const manifest = imageManifest(config, files.map((f) => ({ ...f, bytes: Buffer.alloc(0) })));
    const staging = await store.stage("child/app");
    await staging.writeBlob(config.digest, config.size, body(config));
    await Promise.all(files.map((f) => staging.writeBlobFromFile(f.digest, f.size, f.path)));
    await staging.writeManifest(manifest.bytes, { mediaType: MEDIA_TYPES.ociManifest });
    staging.tag(`t${i % 3}`, manifest.digest);
    await store.commitAll("child/app", staging);
    if (i === 0) process.stdout.write("ready\n");
  }
}
