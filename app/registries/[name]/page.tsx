import Link from "next/link";
import { notFound } from "next/navigation";
import { getRegistry, registryConfigWithSecrets } from "@/lib/api";
import { read, requirePage } from "../../_lib/server";
import { RegistryForm } from "../registry-form";
import type { StoredSecrets } from "../registry-model";

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
  if (perms.admin) return <RegistryForm initial={reg} secrets={await storedSecrets(ctx.env, name)} />;
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

/**
 * Which secrets are stored and of what kind, for the admin's form: worked out here on the server,
 * so the browser gets two flags and never a secret.
 */
async function storedSecrets(env: Parameters<typeof registryConfigWithSecrets>[0], name: string): Promise<StoredSecrets> {
  const full = await registryConfigWithSecrets(env, name);
  const c = full.credentials as Record<string, unknown> | undefined;
  const kind = !c ? null : "registryToken" in c ? "registryToken" : "identityToken" in c ? "identityToken" : "password";
  return { credentials: kind, clientKey: typeof full.clientKey === "string" };
}
