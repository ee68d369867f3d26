import Link from "next/link";
import { notFound } from "next/navigation";
import { getRegistry } from "@/lib/api";
import { read, requirePage } from "../../_lib/server";
import { RegistryForm } from "../registry-form";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ name: string }> }) {
  return { title: `Registry ${decodeURIComponent((await params).name)}` };
}

export default async function RegistryPage({ params }: { params: Promise<{ name: string }> }) {
  const { ctx, perms } = await requirePage("registry.read");
  const name = decodeURIComponent((await params).name);
  const reg = await read(ctx, "registry.read", () => getRegistry(ctx.env.db, name)).catch((err: { code?: string }) => {
    if (err.code === "NOT_FOUND") notFound();
    throw err;
  });
  if (perms.admin) return <RegistryForm initial={reg} />;
  return (
    <>
      <p className="small">
        <Link href="/registries">← Registries</Link>
      </p>
      <h1>Registry {reg.name}</h1>
      <p className="muted">Only administrators can change a registry. Its configuration (credentials are never shown):</p>
      <pre className="code-block" tabIndex={0}>{JSON.stringify(reg.config, null, 2)}</pre>
      <p>
        <Link href={`/tasks?registry=${encodeURIComponent(reg.name)}`}>Tasks of {reg.name}</Link> · <Link href={`/repositories?registry=${encodeURIComponent(reg.name)}`}>Repositories</Link>
      </p>
    </>
  );
}
