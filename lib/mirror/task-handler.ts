import { AppError } from "../errors";
import type { TaskHandler, TaskRecord, TaskResult } from "../scheduler";
import type { TagOutcome } from "../sync";
import type { ServiceCache } from "./services";

/**
 * Runs a task row with its registry's SyncService. A repository whose tags partly failed still
 * "succeeds" as a task (each tag's outcome is recorded, as zot would not); a task fails only when
 * the repository as a whole could not be worked on.
 */
export function createTaskHandler(services: ServiceCache): TaskHandler {
  return async (task: TaskRecord, ctx): Promise<TaskResult> => {
    if (!task.registryId) throw new AppError("NOT_FOUND", "the task's registry was deleted");
    const entry = await services.get(task.registryId);
    if (!entry) throw new AppError("NOT_FOUND", "the task's registry no longer exists or its configuration is invalid");
    const { service } = entry;
    switch (task.kind) {
      case "syncRepo": {
        const r = await service.syncRepo(ctx, task.repository);
        failOnStoreFull(r.outcomes);
        return { outcomes: r.outcomes, bytesCopied: r.bytesCopied, blobsCopied: r.blobsCopied, blobsSkipped: r.blobsSkipped };
      }
      case "syncImage": {
        const r = await service.syncImage(ctx, task.repository, task.reference ?? "latest");
        return {
          outcomes: [r.copied ? { tag: r.reference, status: "synced", digest: r.digest, bytes: r.bytesCopied } : { tag: r.reference, status: "unchanged", digest: r.digest }],
          bytesCopied: r.bytesCopied,
          blobsCopied: r.blobsCopied,
          blobsSkipped: r.blobsSkipped,
        };
      }
      case "syncReferrers": {
        if (!task.reference) throw new AppError("BAD_USER_INPUT", "syncReferrers needs a subject digest");
        const r = await service.syncReferrers(ctx, task.repository, task.reference, []);
        failOnStoreFull(r.outcomes);
        return { outcomes: r.outcomes, bytesCopied: r.bytesCopied, blobsCopied: r.blobsCopied, blobsSkipped: r.blobsSkipped };
      }
      default:
        throw new AppError("BAD_USER_INPUT", `unknown task kind ${String(task.kind)}`);
    }
  };
}

/**
 * A full disk is not one tag's problem: every tag after it fails the same way. The task fails
 * with STORE_FULL (retryable, so it runs again with backoff once space may be free) and keeps the
 * per-tag outcomes, instead of "succeeding" with every tag failed.
 */
export function failOnStoreFull(outcomes: TagOutcome[]): void {
  const full = outcomes.find((o) => o.status === "failed" && o.code === "STORE_FULL");
  if (!full || full.status !== "failed") return;
  throw Object.assign(new AppError("STORE_FULL", `the store's disk is full: ${full.message}`), { retryable: true, outcomes });
}
