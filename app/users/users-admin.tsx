"use client";
import { useState } from "react";
import { ActionButton, CopyButton, Empty, FieldError, FormStatus, Pill, Time, type Feedback } from "../_components/ui";
import { api, errorMessage, issuesByField } from "../_lib/api";
import type { TokenRow, UserRow } from "../_lib/types";

const ROLES = ["viewer", "operator", "admin"] as const;

export function UsersAdmin(props: { users: UserRow[]; tokens: TokenRow[]; me: string }) {
  const [users, setUsers] = useState(props.users);
  const [tokens, setTokens] = useState(props.tokens);
  const [userFb, setUserFb] = useState<Feedback>(null);
  const [userIssues, setUserIssues] = useState<Record<string, string>>({});
  const [tokenFb, setTokenFb] = useState<Feedback>(null);
  const [tokenIssues, setTokenIssues] = useState<Record<string, string>>({});
  const [newToken, setNewToken] = useState<string | null>(null);
  const replaceUser = (u: UserRow) => setUsers((l) => l.map((x) => (x.username === u.username ? u : x)));

  return (
    <>
      <h1>Users and API tokens</h1>
      <section className="card" aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        <div className="table-wrap">
          <table className="table" data-testid="user-table">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <td>
                    {u.username} {u.disabled ? <Pill value="disabled" /> : null} {u.username === props.me ? <span className="small muted">(you)</span> : null}
                  </td>
                  <td>
                    <label className="sr-only" htmlFor={`role-${u.id}`}>
                      Role of {u.username}
                    </label>
                    <select
                      id={`role-${u.id}`}
                      value={u.role}
                      disabled={u.username === props.me}
                      onChange={async (e) => {
                        const role = e.target.value;
                        setUserFb({ kind: "pending", text: `Changing ${u.username}'s role…` });
                        try {
                          replaceUser(await api<UserRow>("PATCH", `/users/${encodeURIComponent(u.username)}`, { role }));
                          setUserFb({ kind: "ok", text: `${u.username} is now ${role}` });
                        } catch (err) {
                          setUserFb({ kind: "error", text: errorMessage(err) });
                        }
                      }}
                    >
                      {ROLES.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <Time iso={u.lastLoginAt} />
                  </td>
                  <td className="actions">
                    {u.username !== props.me ? (
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
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <FormStatus fb={userFb} />
        <h3>Add a user</h3>
        <form
          className="form inline"
          onSubmit={async (e) => {
            e.preventDefault();
            const form = e.currentTarget;
            const d = new FormData(form);
            setUserFb({ kind: "pending", text: "Creating user…" });
            try {
              const u = await api<UserRow>("POST", "/users", { username: String(d.get("username")), password: String(d.get("password")), role: String(d.get("role")) });
              setUsers((l) => [...l, u]);
              setUserIssues({});
              setUserFb({ kind: "ok", text: `User ${u.username} created` });
              form.reset();
            } catch (err) {
              setUserIssues(issuesByField(err));
              setUserFb({ kind: "error", text: errorMessage(err) });
            }
          }}
        >
          <label>
            Username
            <input name="username" required autoComplete="off" aria-describedby="nu-username" />
            <FieldError id="nu-username" msg={userIssues.username} />
          </label>
          <label>
            Password
            <input name="password" type="password" required autoComplete="new-password" aria-describedby="nu-password" />
            <FieldError id="nu-password" msg={userIssues.password} />
          </label>
          <label>
            Role
            <select name="role" defaultValue="viewer">
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          </label>
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
        {tokens.length === 0 ? (
          <Empty title="No API tokens" />
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="token-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {tokens.map((t) => (
                  <tr key={t.id}>
                    <td>
                      {t.name} {t.revokedAt ? <Pill value="revoked" /> : null}
                    </td>
                    <td>{t.role}</td>
                    <td>{t.owner}</td>
                    <td>
                      <code>{t.prefix}…</code>
                    </td>
                    <td>
                      <Time iso={t.lastUsedAt} />
                    </td>
                    <td>{t.expiresAt ? <Time iso={t.expiresAt} /> : "never"}</td>
                    <td>
                      {!t.revokedAt ? (
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
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <h3>Create a token</h3>
        <form
          className="form inline"
          onSubmit={async (e) => {
            e.preventDefault();
            const form = e.currentTarget;
            const d = new FormData(form);
            const expires = String(d.get("expiresAt") ?? "");
            setTokenFb({ kind: "pending", text: "Creating token…" });
            try {
              const r = await api<{ token: string; info: TokenRow }>("POST", "/tokens", { name: String(d.get("name")), role: String(d.get("role")), ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}) });
              setTokens((l) => [r.info, ...l]);
              setNewToken(r.token);
              setTokenIssues({});
              setTokenFb({ kind: "ok", text: `Token ${r.info.name} created` });
              form.reset();
            } catch (err) {
              setTokenIssues(issuesByField(err));
              setTokenFb({ kind: "error", text: errorMessage(err) });
            }
          }}
        >
          <label>
            Name
            <input name="name" required placeholder="ci-pipeline" aria-describedby="nt-name" />
            <FieldError id="nt-name" msg={tokenIssues.name} />
          </label>
          <label>
            Role
            <select name="role" defaultValue="viewer">
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          </label>
          <label>
            Expires
            <input name="expiresAt" type="datetime-local" aria-describedby="nt-exp" />
            <FieldError id="nt-exp" msg={tokenIssues.expiresAt} />
          </label>
          <button type="submit" className="btn primary">
            Create token
          </button>
        </form>
        <FormStatus fb={tokenFb} />
      </section>
    </>
  );
}
