import { listRegistries, listRepositories, schemas } from "@/lib/api";
import { read, requirePage } from "../_lib/server";
import { RepoList } from "./repo-list";

export const dynamic = "force-dynamic";
export const metadata = { title: "Repositories" };

export default async function RepositoriesPage({ searchParams }: { searchParams: Promise<{ registry?: string; prefix?: string }> }) {
  const { ctx, perms } = await requirePage("repository.read");
  const sp = await searchParams;
  const q = schemas.repositoryQuerySchema.safeParse({ ...(sp.registry ? { registry: sp.registry } : {}), ...(sp.prefix ? { prefix: sp.prefix } : {}) });
  const [regs, page] = await Promise.all([
    read(ctx, "registry.read", () => listRegistries(ctx.env.db)),
    q.success ? read(ctx, "repository.read", () => listRepositories(ctx.env, q.data)).catch(() => null) : Promise.resolve(null),
  ]);
  return <RepoList registries={regs.map((r) => r.name)} filters={{ registry: sp.registry ?? "", prefix: sp.prefix ?? "" }} initial={page} perms={perms} />;
}
