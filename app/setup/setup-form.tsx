"use client";
import { useState } from "react";
import { api, errorMessage, issuesByField } from "../_lib/api";
import { FieldError, FormStatus, type Feedback } from "../_components/ui";

export function SetupForm() {
  const [fb, setFb] = useState<Feedback>(null);
  const [issues, setIssues] = useState<Record<string, string>>({});
  return (
    <form
      className="form"
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        const username = String(f.get("username"));
        const password = String(f.get("password"));
        if (password !== String(f.get("password2"))) {
          setIssues({ password2: "the passwords differ" });
          return;
        }
        setIssues({});
        setFb({ kind: "pending", text: "Creating the administrator…" });
        try {
          await api("POST", "/setup", { username, password, setupToken: String(f.get("setupToken")).trim() });
          setFb({ kind: "pending", text: "Created. Signing in…" });
          await api("POST", "/session", { username, password });
          window.location.assign("/");
        } catch (err) {
          setIssues(issuesByField(err));
          setFb({ kind: "error", text: errorMessage(err) });
        }
      }}
    >
      <label>
        Setup token
        <input name="setupToken" required autoComplete="off" aria-describedby="setupToken-err" />
        <FieldError id="setupToken-err" msg={issues.setupToken} />
      </label>
      <label>
        Admin username
        <input name="username" required autoComplete="username" aria-describedby="username-err" />
        <FieldError id="username-err" msg={issues.username} />
      </label>
      <label>
        Password
        <input name="password" type="password" required autoComplete="new-password" aria-describedby="password-err" />
        <FieldError id="password-err" msg={issues.password} />
      </label>
      <label>
        Password again
        <input name="password2" type="password" required autoComplete="new-password" aria-describedby="password2-err" />
        <FieldError id="password2-err" msg={issues.password2} />
      </label>
      <button type="submit" className="btn primary" disabled={fb?.kind === "pending"}>
        Create administrator
      </button>
      <FormStatus fb={fb} />
    </form>
  );
}

