import { authorize, isMutation, recordAudit, requireViewer, type Action, type AuditOutcome, type RequestMeta, type Viewer } from "../auth";
import { isAppError } from "../errors";
import { invalidateApiCaches } from "./caches";
import type { ApiEnv } from "./env";

/** One API call: who, from where, against which process state. */
export interface CallContext {
  env: ApiEnv;
  viewer: Viewer | null;
  meta: RequestMeta;
  /** Why authentication failed, for routes that handle credentials themselves (logout). */
  authError?: unknown;
}

/** The outcome class an error gets in the audit log. */
export function auditOutcomeOf(err: unknown): AuditOutcome {
  return isAppError(err) && (err.code === "UNAUTHENTICATED" || err.code === "FORBIDDEN" || err.code === "CSRF_REJECTED") ? "denied" : "failed";
}

/**
 * Runs one operation for REST or GraphQL: the viewer must be signed in and allowed `action`;
 * mutations are written to the audit log with their outcome (refusals included). `target` names
 * what was acted on (a registry name, a task id), never a secret.
 */
export async function perform<T>(
  ctx: CallContext,
  action: Action,
  target: string | null,
  run: (viewer: Viewer) => Promise<T>,
  details?: Record<string, unknown>,
  /** The target when it is known only after `run` parsed its input. */
  lateTarget?: () => string | null,
): Promise<T> {
  const audited = isMutation(action);
  const targetNow = () => target ?? lateTarget?.() ?? null;
  try {
    const viewer = requireViewer(ctx.viewer);
    authorize(viewer, action);
    // A mutation may have revoked a credential or changed a generator: this process's cached
    // copies go before the answer does (other processes hear it from the database's NOTIFY).
    const result = await (audited ? run(viewer).finally(() => invalidateApiCaches(ctx.env)) : run(viewer));
    if (audited) await recordAudit(ctx.env.db, { viewer, action, target: targetNow(), meta: ctx.meta, outcome: "success", ...(details ? { details } : {}) }, ctx.env.log);
    return result;
  } catch (err) {
    if (audited) {
      await recordAudit(
        ctx.env.db,
        { viewer: ctx.viewer, action, target: targetNow(), meta: ctx.meta, outcome: auditOutcomeOf(err), errorCode: isAppError(err) ? err.code : "INTERNAL", ...(details ? { details } : {}) },
        ctx.env.log,
      );
    }
    throw err;
  }
}
