/** The API's shapes as the browser receives them (JSON: dates are ISO strings). Types only. */
import type { GeneratorStatus } from "@/lib/scheduler";
import type { ConnectionResult, HistoryBucket, PreviewResult, RegistryView, RepositoryDetail, RepositoryView, StoreTotals, TaskEventView, TaskView } from "@/lib/api";
import type { ApiTokenInfo, AuditRecord, User } from "@/lib/auth";

/** What a value looks like after JSON. */
export type Plain<T> = T extends Date ? string : T extends Array<infer U> ? Plain<U>[] : T extends object ? { [K in keyof T]: Plain<T[K]> } : T;

export type Generator = Plain<GeneratorStatus>;
export type Task = Plain<TaskView>;
export type TaskDetail = Plain<TaskView & { events: TaskEventView[] }>;
export type Registry = Plain<RegistryView>;
export type Repository = Plain<RepositoryView>;
export type RepoDetail = Plain<RepositoryDetail>;
export type Totals = Plain<StoreTotals>;
export type Bucket = Plain<HistoryBucket>;
export type Preview = Plain<PreviewResult>;
export type Connection = Plain<ConnectionResult>;
export type UserRow = Plain<User>;
export type TokenRow = Plain<ApiTokenInfo>;
export type AuditRow = Plain<AuditRecord>;
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
export interface Perms {
  operate: boolean;
  admin: boolean;
}
