/**
 * lib/auth — who may do what. Users and roles, scrypt passwords, browser sessions with CSRF
 * tokens, API tokens, the one authorization table, and the audit log. Framework-free: adapters
 * hand in a fetch `Headers`/`Request` and get a `Viewer` or an AppError back.
 */
export { ACTIONS, authorize, can, isMutation, type Action } from "./authorize";
export { authenticate, CSRF_HEADER, readCookie, requestMeta, requireViewer, SESSION_COOKIE, sessionCookie, type AuthRequest } from "./authenticate";
export { createApiToken, listApiTokens, resolveApiToken, revokeApiToken, type ApiTokenInfo } from "./api-tokens";
export { listAudit, recordAudit, type AuditEntry, type AuditOutcome, type AuditQuery, type AuditRecord } from "./audit";
export { authenticateBasic, parseBasic } from "./basic";
export { attachAuthCache, AuthCache, authCacheOf, type InvalidationFeed } from "./cache";
export { checkPasswordPolicy, hashPassword, verifyPassword } from "./password";
export { isRole, minRole, roleAtLeast, ROLES, type Role } from "./roles";
export { csrfTokenFor, newApiToken, sha256Hex, TOKEN_PREFIX } from "./secrets";
export { endSession, login, resolveSession, type NewSession } from "./sessions";
export { checkSetupToken, ensureSetupToken, setupTokenFile } from "./setup";
export { countUsers, createUser, deleteUser, ensureEnvAdmin, getUserByName, listUsers, setupFirstAdmin, updateUser, type User } from "./users";
export type { RequestMeta, Viewer } from "./viewer";
