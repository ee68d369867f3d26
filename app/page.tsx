import { getRuntime, checkReadiness } from "@/lib/runtime";

export const dynamic = "force-dynamic";

export default async function Home() {
  const runtime = await getRuntime();
  const ready = await checkReadiness(runtime);
  return (
    <>
      <h1>Overview</h1>
      <section className="card">
        <h2>Status</h2>
        <p>
          Database: <span className={ready.database.ok ? "ok" : "bad"}>{ready.database.ok ? "reachable" : "unreachable"}</span>{" "}
          ({ready.database.embedded ? "embedded Postgres" : "external Postgres"})
        </p>
        <p>
          Migrations:{" "}
          <span className={ready.migrations.ok ? "ok" : "bad"}>
            {ready.migrations.ok ? "up to date" : `${ready.migrations.pending.length} pending`}
          </span>
        </p>
        <p className="muted">Up since {runtime.startedAt.toISOString()}</p>
      </section>
      <section className="card">
        <h2>Registries</h2>
        <p className="muted">No registries yet. Declare them in <code>ferry.config.json</code> (see README).</p>
      </section>
    </>
  );
}
