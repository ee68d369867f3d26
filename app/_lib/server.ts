/**
 * Server-side helpers for pages: who is looking (from the session cookie), what they may do, and
 * running one lib/api read as them (authorization and all, like the APIs). Pages stay thin:
 * they read through these and hand plain JSON to client components.
 */
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { getApiEnv, perform, type CallContext } from "@/lib/api";
import type { Perms, Plain } from "./types";
import { authenticate, can, countUsers, requestMeta, type Action, type Viewer } from "@/lib/auth";


/** What the UI shows or hides by role; computed from the one authorization table. */
export function permsOf(viewer: Viewer): Perms {
  return { operate: can(viewer, "registry.sync"), admin: can(viewer, "registry.create") };
}

async function context(): Promise<CallContext> {
  const env = await getApiEnv();
  const h = new Headers(await headers());
  let viewer: Viewer | null = null;
  try {
    viewer = await authenticate(env.db, { method: "GET", headers: h });
  } catch {
    viewer = null;
  }
  return { env, viewer, meta: requestMeta(h) };
}

/** The signed-in viewer, or null. */
export async function currentViewer(): Promise<Viewer | null> {
  return (await context()).viewer;
}

/** True while there are no users (first-run setup is open). */
export async function setupNeeded(): Promise<boolean> {
  const env = await getApiEnv();
  return (await countUsers(env.db)) === 0;
}

/**
 * The page's viewer, or a redirect: to /setup before the first user exists, to /login without a
 * session, home when the role is too weak for the page.
 */
export async function requirePage(action: Action = "me.read"): Promise<{ ctx: CallContext; viewer: Viewer; perms: Perms }> {
  const ctx = await context();
  if (!ctx.viewer) {
    if (await setupNeeded()) redirect("/setup");
    redirect("/login");
  }
  if (!can(ctx.viewer, action)) redirect("/?forbidden=1");
  return { ctx, viewer: ctx.viewer, perms: permsOf(ctx.viewer) };
}

/** Runs one read as the viewer (authorized like the API) and returns it as plain JSON (dates as strings). */
export async function read<T>(ctx: CallContext, action: Action, run: () => Promise<T>): Promise<Plain<T>> {
  return plain(await perform(ctx, action, null, run));
}

export function plain<T>(v: T): Plain<T> {
  return JSON.parse(JSON.stringify(v)) as Plain<T>;
}
