import { redirect } from "next/navigation";
import { currentViewer, setupNeeded } from "../_lib/server";
import { LoginForm } from "./login-form";

export const metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  if (await setupNeeded()) redirect("/setup");
  const { next } = await searchParams;
  const safeNext = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  if (await currentViewer()) redirect(safeNext);
  return (
    <section className="card narrow">
      <h1>Sign in to Ferry</h1>
      <LoginForm next={safeNext} />
    </section>
  );
}
