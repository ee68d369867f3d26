import { notFound } from "next/navigation";
import { repositoryCoverage, repositoryDetail } from "@/lib/api";
import { read, requirePage } from "../../../_lib/server";
import { RepoView } from "./repo-view";

export const dynamic = "force-dynamic";

type Params = Promise<{ registry: string; repo: string[] }>;

export async function generateMetadata({ params }: { params: Params }) {
  const p = await params;
  return { title: p.repo.map(decodeURIComponent).join("/") };
}

export default async function RepositoryPage({ params }: { params: Params }) {
  const { ctx, perms } = await requirePage("repository.read");
  const p = await params;
  const registry = decodeURIComponent(p.registry);
  const repo = p.repo.map(decodeURIComponent).join("/");
  const detail = await read(ctx, "repository.read", async () => ({ ...(await repositoryDetail(ctx.env, registry, repo)), ...(await repositoryCoverage(ctx.env, registry, repo)) })).catch((err: { code?: string }) => {
    if (err.code === "NOT_FOUND") notFound();
    throw err;
  });
  return <RepoView initial={detail} perms={perms} />;
}
