"use client";
import Link from "next/link";
import { useState } from "react";
import { ActionButton, Empty, LiveBadge, Pill } from "../_components/ui";
import { api } from "../_lib/api";
import { useLive } from "../_lib/live";
import type { Generator, Perms, Registry } from "../_lib/types";

export function RegistryList({ initial, generators, perms }: { initial: Registry[]; generators: Generator[]; perms: Perms }) {
  const [regs, setRegs] = useState(initial);
  const [gens, setGens] = useState(() => new Map(generators.map((g) => [g.registryName, g])));
  const setGen = (g: Generator) => setGens((m) => new Map(m).set(g.registryName, g));
  const status = useLive({
    generators: setGen,
    onSync: async () => {
      const [r, g] = await Promise.all([api<{ items: Registry[] }>("GET", "/registries"), api<{ items: Generator[] }>("GET", "/generators")]);
      setRegs(r.items);
      setGens(new Map(g.items.map((x) => [x.registryName, x])));
    },
  });
  const post = (name: string, verb: string) => api<Generator>("POST", `/registries/${encodeURIComponent(name)}/${verb}`);

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
      {regs.length === 0 ? (
        <Empty title="No registries yet">
          <p>
            A registry is an upstream Ferry mirrors: its URLs, credentials, schedule and content rules.{" "}
            {perms.admin ? <Link href="/registries/new">Add the first one</Link> : "Ask an administrator to add one"}, or declare it in{" "}
            <code>ferry.config.json</code>.
          </p>
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="registry-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Upstream</th>
                <th scope="col">Schedule</th>
                <th scope="col">Rules</th>
                <th scope="col">Generator</th>
                {perms.operate ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {regs.map((r) => {
                const g = gens.get(r.name);
                const c = r.config as { urls?: string[]; pollInterval?: string | number; onDemand?: boolean; content?: unknown[] };
                return (
                  <tr key={r.id}>
                    <td>
                      <Link href={`/registries/${encodeURIComponent(r.name)}`}>{r.name}</Link>
                      {!r.enabled ? <> <Pill value="disabled" /></> : null}
                      {r.hasCredentials ? <span className="small muted"> · credentials stored</span> : null}
                    </td>
                    <td className="small">
                      {(c.urls ?? []).map((u) => (
                        <div key={u}>
                          <code>{u}</code>
                        </div>
                      ))}
                    </td>
                    <td className="small">
                      {c.pollInterval !== undefined ? `every ${c.pollInterval}` : "no rounds"}
                      {c.onDemand ? " · on demand" : ""}
                    </td>
                    <td className="small">{c.content?.length ? `${c.content.length} rule${c.content.length > 1 ? "s" : ""}` : "everything"}</td>
                    <td>
                      <Pill value={g?.phase ?? "idle"} /> {g ? <span className="small muted">round {g.round}</span> : null}
                    </td>
                    {perms.operate ? (
                      <td className="actions">
                        <ActionButton label="Sync now" run={async () => (setGen(await post(r.name, "sync")), "Round started")} />
                        {g?.paused ? (
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
                      </td>
                    ) : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
