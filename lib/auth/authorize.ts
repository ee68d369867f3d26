import { AppError } from "../errors";
import { roleAtLeast, type Role } from "./roles";
import type { Viewer } from "./viewer";

/**
 * Every action the APIs offer and the least role that may do it. REST routes and GraphQL fields
 * name their action; nothing checks roles anywhere else, so this table is the whole policy.
 */
export const ACTIONS = {
  "me.read": "viewer",
  "registry.read": "viewer",
  "generator.read": "viewer",
  "task.read": "viewer",
  "repository.read": "viewer",
  "events.subscribe": "viewer",
  "registry.sync": "operator",
  "registry.pause": "operator",
  "registry.resume": "operator",
  "generator.reset": "operator",
  "repository.sync": "operator",
  "image.sync": "operator",
  "task.cancel": "operator",
  "task.retry": "operator",
  /** Removes mirrored content only; a sync brings it back, so it is an operator's call like a sync. */
  "tag.delete": "operator",
  "registry.create": "admin",
  "registry.update": "admin",
  "registry.delete": "admin",
  /** Adds a content rule to the registry's config: a registry edit. */
  "registry.promote": "admin",
  /** Test connection and content-rules dry run: the server makes read-only requests to a URL the caller chose. */
  "registry.preview": "admin",
  "user.read": "admin",
  "user.create": "admin",
  "user.update": "admin",
  "user.delete": "admin",
  "token.read": "admin",
  "token.create": "admin",
  "token.revoke": "admin",
  "audit.read": "admin",
} as const satisfies Record<string, Role>;

export type Action = keyof typeof ACTIONS;

/** Actions that change something: each is written to the audit log, whatever its outcome. */
export function isMutation(action: Action): boolean {
  return !action.endsWith(".read") && action !== "events.subscribe";
}

/** True when the viewer may do `action`. */
export function can(viewer: Viewer, action: Action): boolean {
  return roleAtLeast(viewer.role, ACTIONS[action]);
}

/** Throws FORBIDDEN unless the viewer may do `action`. */
export function authorize(viewer: Viewer, action: Action): void {
  if (!can(viewer, action)) throw new AppError("FORBIDDEN", `${action} needs the ${ACTIONS[action]} role; you are ${viewer.role}`);
}
