"use client";
import { useState } from "react";
import { DataTable, type Column } from "../_components/table";
import { ActionButton, CopyButton, Empty, Field, FormStatus, Pill, Time } from "../_components/ui";
import { api, errorMessage } from "../_lib/api";
import { useApiForm } from "../_lib/form";
import type { TokenRow, UserRow } from "../_lib/types";

const ROLES = ["viewer", "operator", "admin"] as const;

function RoleSelect() {
  return (
    <label>
      Role
      <select name="role" defaultValue="viewer">
        {ROLES.map((r) => (
          <option key={r}>{r}</option>
        ))}
      </select>
    </label>
  );
}

export function UsersAdmin(props: { users: UserRow[]; tokens: TokenRow[]; me: string }) {
  const [users, setUsers] = useState(props.users);
  const [tokens, setTokens] = useState(props.tokens);
  const userForm = useApiForm("Creating user…", { reset: true });
  const tokenForm = useApiForm("Creating token…", { reset: true });
  const { fb: userFb, setFb: setUserFb, issues: userIssues } = userForm;
  const { fb: tokenFb, issues: tokenIssues } = tokenForm;
  const [newToken, setNewToken] = useState<string | null>(null);
  const replaceUser = (u: UserRow) => setUsers((l) => l.map((x) => (x.username === u.username ? u : x)));
  const changeRole = async (u: UserRow, role: string) => {
    setUserFb({ kind: "pending", text: `Changing ${u.username}'s role…` });
    try {
      replaceUser(await api<UserRow>("PATCH", `/users/${encodeURIComponent(u.username)}`, { role }));
      setUserFb({ kind: "ok", text: `${u.username} is now ${role}` });
    } catch (err) {
      setUserFb({ kind: "error", text: errorMessage(err) });
    }
  };
  const userColumns: Array<Column<UserRow>> = [
    { header: "User", cell: (u) => <>{u.username} {u.disabled ? <Pill value="disabled" /> : null} {u.username === props.me ? <span className="small muted">(you)</span> : null}</> },
    {
      header: "Role",
      cell: (u) => (
        <>
          <label className="sr-only" htmlFor={`role-${u.id}`}>
            Role of {u.username}
          </label>
          <select id={`role-${u.id}`} value={u.role} disabled={u.username === props.me} onChange={(e) => void changeRole(u, e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </>
      ),
    },
    { header: "Last sign-in", cell: (u) => <Time iso={u.lastLoginAt} /> },
    {
      header: "Actions",
      className: "actions",
      cell: (u) =>
        u.username !== props.me ? (
          <>
            <ActionButton
              label={u.disabled ? "Enable" : "Disable"}
              run={async () => {
                replaceUser(await api<UserRow>("PATCH", `/users/${encodeURIComponent(u.username)}`, { disabled: !u.disabled }));
                return u.disabled ? "Enabled" : "Disabled; their sessions ended";
              }}
            />
            <ActionButton
              label="Delete"
              variant="danger"
              confirm={`Delete user ${u.username}? Their sessions and tokens end.`}
              run={async () => {
                await api("DELETE", `/users/${encodeURIComponent(u.username)}`);
                setUsers((l) => l.filter((x) => x.id !== u.id));
                return "Deleted";
              }}
            />
          </>
        ) : null,
    },
  ];
  const tokenColumns: Array<Column<TokenRow>> = [
    { header: "Name", cell: (t) => <>{t.name} {t.revokedAt ? <Pill value="revoked" /> : null}</> },
    { header: "Role", cell: (t) => t.role },
    { header: "Owner", cell: (t) => t.owner },
    { header: "Prefix", cell: (t) => <code>{t.prefix}…</code> },
    { header: "Last used", cell: (t) => <Time iso={t.lastUsedAt} /> },
    { header: "Expires", cell: (t) => (t.expiresAt ? <Time iso={t.expiresAt} /> : "never") },
    {
      header: "Actions",
      cell: (t) =>
        !t.revokedAt ? (
          <ActionButton
            label="Revoke"
            variant="danger"
            confirm={`Revoke token ${t.name}? Anything using it stops working immediately.`}
            run={async () => {
              const r = await api<TokenRow>("DELETE", `/tokens/${t.id}`);
              setTokens((l) => l.map((x) => (x.id === t.id ? r : x)));
              return "Revoked";
            }}
          />
        ) : null,
    },
  ];

  return (
    <>
      <h1>Users and API tokens</h1>
      <section className="card" aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        <DataTable rows={users} columns={userColumns} rowKey={(u) => u.id} testId="user-table" />
        <FormStatus fb={userFb} />
        <h3>Add a user</h3>
        <form
          className="form inline"
          onSubmit={userForm.onSubmit(async (d) => {
            const u = await api<UserRow>("POST", "/users", { username: String(d.get("username")), password: String(d.get("password")), role: String(d.get("role")) });
            setUsers((l) => [...l, u]);
            return `User ${u.username} created`;
          })}
        >
          <Field label="Username" name="username" required autoComplete="off" error={userIssues.username} />
          <Field label="Password" name="password" type="password" required autoComplete="new-password" error={userIssues.password} />
          <RoleSelect />
          <button type="submit" className="btn primary">
            Add user
          </button>
        </form>
      </section>

      <section className="card" aria-labelledby="tokens-h">
        <h2 id="tokens-h">API tokens</h2>
        <p className="small muted">
          For scripts and CI: send <code>Authorization: Bearer ferry_…</code>. A token never has more rights than its owner.
        </p>
        {newToken ? (
          <div className="banner ok" role="status">
            <p>
              <strong>Copy this token now; it is not shown again.</strong>
            </p>
            <code data-testid="new-token">{newToken}</code> <CopyButton text={newToken} label="Copy token" />
          </div>
        ) : null}
        <DataTable rows={tokens} columns={tokenColumns} rowKey={(t) => t.id} testId="token-table" empty={<Empty title="No API tokens" />} />
        <h3>Create a token</h3>
        <form
          className="form inline"
          onSubmit={tokenForm.onSubmit(async (d) => {
            const expires = String(d.get("expiresAt") ?? "");
            const r = await api<{ token: string; info: TokenRow }>("POST", "/tokens", { name: String(d.get("name")), role: String(d.get("role")), ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}) });
            setTokens((l) => [r.info, ...l]);
            setNewToken(r.token);
            return `Token ${r.info.name} created`;
          })}
        >
          <Field label="Name" name="name" required placeholder="ci-pipeline" error={tokenIssues.name} />
          <RoleSelect />
          <Field label="Expires" name="expiresAt" type="datetime-local" error={tokenIssues.expiresAt} />
          <button type="submit" className="btn primary">
            Create token
          </button>
        </form>
        <FormStatus fb={tokenFb} />
      </section>
    </>
  );
}
