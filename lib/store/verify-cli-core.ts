/**
 * The verify command's logic, separate from its process wiring so tests and other entry points
 * (an admin API, the worker) can run it: open the store without recovery (verify is read-only),
 * verify, and summarise.
 */
import { FsStore } from "./fs-store";
import type { VerifyReport } from "./types";

export async function verifyStoreAt(root: string): Promise<{ report: VerifyReport; summary: string; exitCode: number }> {
  const store = await FsStore.open(root, { recover: false });
  const report = await store.verify();
  const lines = [
    `store ${store.root}: ${report.repositories} repositories, ${report.blobsChecked} blobs (${report.bytesChecked} bytes) checked`,
    ...report.corrupt.map((p) => `CORRUPT ${p.path}: ${p.detail}`),
    ...report.missing.map((p) => `MISSING ${p.repo ?? ""} ${p.digest ?? ""}: ${p.detail}`),
    ...report.invalid.map((p) => `INVALID ${p.path}: ${p.detail}`),
    `${report.unreferenced.length} unreferenced (collected by gc)`,
    report.ok ? "OK" : "FAILED",
  ];
  return { report, summary: lines.join("\n"), exitCode: report.ok ? 0 : 1 };
}
