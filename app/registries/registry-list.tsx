"use client";
import Link from "next/link";
import { useRef, useState } from "react";
import { DataTable, type Column } from "../_components/table";
import { ActionButton, Empty, LiveBadge, Pill } from "../_components/ui";
import { api } from "../_lib/api";
import { useLive } from "../_lib/live";
import type { Generator, Perms, Registry } from "../_lib/types";
import { UrlHealthList } from "./url-health";

type Config = { pollInterval?: string | number; onDemand?: boolean; content?: unknown[] };
const configOf = (r: Registry) => r.config as Config;
const rulesText = (n: number) => (n ? `${n} rule${n > 1 ? "s" : ""}` : "everything");

export function RegistryList({ initial, generators, perms }: { initial: Registry[]; generators: Generator[]; perms: Perms }) {
  const [regs, setRegs] = useState(initial);
  const [gens, setGens] = useState(() => new Map(generators.map((g) => [g.registryName, g])));
  const setGen = (g: Generator) => setGens((m) => new Map(m).set(g.registryName, g));
  // Url health moves with the rounds: a generator event re-reads the list (a burst of them, once).
  const healthTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const status = useLive({
    generators: (g) => {
      setGen(g);
      healthTimer.current ??= setTimeout(() => {
        healthTimer.current = null;
        void api<{ items: Registry[] }>("GET", "/registries").then((r) => setRegs(r.items), () => {});
      }, 1500);
    },
    onSync: async () => {
      const [r, g] = await Promise.all([api<{ items: Registry[] }>("GET", "/registries"), api<{ items: Generator[] }>("GET", "/generators")]);
      setRegs(r.items);
      setGens(new Map(g.items.map((x) => [x.registryName, x])));
    },
  });
  const post = (name: string, verb: string) => api<Generator>("POST", `/registries/${encodeURIComponent(name)}/${verb}`);
  const columns: Array<Column<Registry>> = [
    {
      header: "Name",
      cell: (r) => (
        <>
          <Link href={`/registries/${encodeURIComponent(r.name)}`}>{r.name}</Link>
          {!r.enabled ? <> <Pill value="disabled" /></> : null}
          {r.hasCredentials ? <span className="small muted"> · credentials stored</span> : null}
        </>
      ),
    },
    {
      header: "Upstream",
      className: "small",
      cell: (r) => <UrlHealthList health={r.urlHealth} />,
    },
    { header: "Schedule", className: "small", cell: (r) => `${configOf(r).pollInterval !== undefined ? `every ${configOf(r).pollInterval}` : "no rounds"}${configOf(r).onDemand ? " · on demand" : ""}` },
    { header: "Rules", className: "small", cell: (r) => rulesText(configOf(r).content?.length ?? 0) },
    {
      header: "Generator",
      cell: (r) => {
        const g = gens.get(r.name);
        return <><Pill value={g?.phase ?? "idle"} /> {g ? <span className="small muted">round {g.round}</span> : null}</>;
      },
    },
    {
      header: "Actions",
      className: "actions",
      hidden: !perms.operate,
      cell: (r) => (
        <>
          <ActionButton label="Sync now" run={async () => (setGen(await post(r.name, "sync")), "Round started")} />
          {gens.get(r.name)?.paused ? (
            <ActionButton label="Resume" run={async () => (setGen(await post(r.name, "resume")), "Resumed")} />
          ) : (
            <ActionButton label="Pause" run={async () => (setGen(await post(r.name, "pause")), "Paused")} />
          )}
          <ActionButton label="Reset" confirm={`Reset ${r.name}'s generator? The current round's cursor is dropped and a new round starts.`} run={async () => (setGen(await post(r.name, "reset")), "Reset: a new round starts")} />
          {perms.admin ? (
            <ActionButton
              label="Delete"
              variant="danger"
              confirm={`Delete registry ${r.name}? Its generator and tag state go; task history stays.`}
              run={async () => {
                await api("DELETE", `/registries/${encodeURIComponent(r.name)}`);
                setRegs((l) => l.filter((x) => x.name !== r.name));
                return "Deleted";
              }}
            />
          ) : null}
        </>
      ),
    },
  ];

  return (
    <>
      <div className="page-head">
        <h1>Registries</h1>
        <LiveBadge status={status} />
        {perms.admin ? (
          <Link href="/registries/new" className="btn primary">
            Add registry
          </Link>
        ) : null}
      </div>
      <DataTable
        rows={regs}
        columns={columns}
        rowKey={(r) => r.id}
        testId="registry-table"
        empty={
          <Empty title="No registries yet">
            <p>
              A registry is an upstream Ferry mirrors: its URLs, credentials, schedule and content rules.{" "}
              {perms.admin ? <Link href="/registries/new">Add the first one</Link> : "Ask an administrator to add one"}, or declare it in{" "}
              <code>ferry.config.json</code>.
            </p>
          </Empty>
        }
      />
    </>
  );
}
