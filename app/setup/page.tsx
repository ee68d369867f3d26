import { redirect } from "next/navigation";
import { setupNeeded } from "../_lib/server";
import { SetupForm } from "./setup-form";

export const metadata = { title: "First-run setup" };
export const dynamic = "force-dynamic";

export default async function SetupPage() {
  if (!(await setupNeeded())) redirect("/login");
  return (
    <section className="card narrow">
      <h1>Welcome to Ferry</h1>
      <p>
        There are no users yet. Create the first administrator. The setup token is in the file <code>setup.token</code> in
        Ferry&apos;s data directory (<code>./.ferry/setup.token</code> by default); Ferry also printed its path when it started.
      </p>
      <SetupForm />
    </section>
  );
}
