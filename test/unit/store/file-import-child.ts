/**
 * Child process for file-import.test.ts: imports one local file into a store through the worker
 * pool and returns without closing anything. The process must then exit on its own (idle workers
 * are unref'd); the test fails on its timeout if they kept it alive.
 *   file-import-child.ts <store root> <file> <digest> <size>
 */
import { openStore } from "../../../lib/store";

const [root, path, digest, size] = process.argv.slice(2);
if (root === undefined || path === undefined || digest === undefined || size === undefined) {
  throw new Error("usage: file-import-child.ts <root> <file> <digest> <size>");
}
const store = await openStore(root, { fsync: false });
const staging = await store.stage("child/app");
const result = await staging.writeBlobFromFile(digest, Number(size), path);
process.stdout.write(`${JSON.stringify(result)}\n`);
