/**
 * `npx tsx lib/store/cli-verify.ts <store-root>` — re-hashes the whole store; exits 1 when
 * anything is corrupt, missing or invalid, 2 on usage or runtime errors.
 */
import { verifyStoreAt } from "./verify-cli-core";

const root = process.argv[2];
if (root === undefined) {
  process.stderr.write("usage: tsx lib/store/cli-verify.ts <store-root>\n");
  process.exitCode = 2;
} else {
  verifyStoreAt(root).then(
    ({ summary, exitCode }) => {
      process.stdout.write(`${summary}\n`);
      process.exitCode = exitCode;
    },
    (err: unknown) => {
      process.stderr.write(`verify failed: ${String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
