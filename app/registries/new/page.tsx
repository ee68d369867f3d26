import { requirePage } from "../../_lib/server";
import { RegistryForm } from "../registry-form";

export const dynamic = "force-dynamic";
export const metadata = { title: "Add registry" };

export default async function NewRegistryPage() {
  await requirePage("registry.create");
  return <RegistryForm initial={null} />;
}
