import { generators, listRegistries } from "@/lib/api";
import { read, requirePage } from "../_lib/server";
import { RegistryList } from "./registry-list";

export const dynamic = "force-dynamic";
export const metadata = { title: "Registries" };

export default async function RegistriesPage() {
  const { ctx, perms } = await requirePage("registry.read");
  const [regs, gens] = await Promise.all([read(ctx, "registry.read", () => listRegistries(ctx.env.db)), read(ctx, "generator.read", () => generators(ctx.env))]);
  return <RegistryList initial={regs} generators={gens} perms={perms} />;
}
