/**
 * Roles, from least to most trusted. Each includes everything below it:
 *   viewer    reads everything except users, tokens and the audit log
 *   operator  + triggers rounds, pauses/resumes, resets generators, syncs, cancels and retries tasks
 *   admin     + registries, users, API tokens, audit log
 */
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}

/** True when `role` may do what `needed` may. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** The weaker of two roles (a token never grants more than its owner currently has). */
export function minRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}
