/**
 * Deleting a mirrored tag: the tag leaves the store (its manifests and blobs stay until gc, which
 * keeps whatever another tag still uses) and its per-tag sync state is dropped, so Ferry forgets
 * it was ever synced. The next round copies it again only if a content rule still selects it; an
 * on-demand registry that maps the name fetches it again at the next pull.
 */
import { AppError, isAppError } from "../errors";
import { getRuntime } from "../runtime";
import type { ApiEnv } from "./env";

export interface DeletedTagView {
  repository: string;
  tag: string;
  /** The digest the tag pointed at in the store; null when only sync state was left. */
  digest: string | null;
  /** Registries whose sync state for the tag was dropped. */
  registries: string[];
}

export async function deleteMirroredTag(env: ApiEnv, repository: string, tag: string): Promise<DeletedTagView> {
  const store = (await getRuntime()).store;
  const digest = await store.resolveTag(repository, tag).catch(() => null);
  let inStore = false;
  try {
    await store.deleteTag(repository, tag);
    inStore = true;
  } catch (err) {
    if (!isAppError(err) || err.code !== "NOT_FOUND") throw err;
  }
  const states = await env.db.tagSyncState.findMany({ where: { repository, tag }, select: { registryId: true, registry: { select: { name: true } } } });
  if (states.length) await env.db.tagSyncState.deleteMany({ where: { repository, tag } });
  if (!inStore && states.length === 0) throw new AppError("NOT_FOUND", `tag ${repository}:${tag} is not mirrored`, { details: { repository, tag } });
  return { repository, tag, digest, registries: states.map((s) => s.registry.name).sort() };
}
