"use client";
/**
 * The registry form's TLS and credential fields. Secrets are write-only: a stored client key or
 * stored credentials show as "set", their inputs start empty, and an empty input keeps the stored
 * value. The credential source is one of static credentials (three kinds) or a Docker config.json,
 * whose credHelpers/credsStore helpers (`docker-credential-<name>`) Ferry runs (lib/oci).
 */
import type { ReactNode } from "react";
import { CRED_SOURCE_LABELS, type CredSource, type State, type StoredSecrets } from "./registry-model";

type FieldProps = (key: string) => { "aria-invalid": boolean | undefined; "aria-describedby": string };

const SOURCES = (Object.keys(CRED_SOURCE_LABELS) as CredSource[]).map((value) => ({ value, label: CRED_SOURCE_LABELS[value] }));

function Stored({ set, what }: { set: boolean; what: string }) {
  return (
    <span className={`pill ${set ? "ok" : "muted"}`} data-testid={`stored-${what}`}>
      {set ? "set" : "not set"}
    </span>
  );
}

export function SecretFields(props: { s: State; set: <K extends keyof State>(k: K, v: State[K]) => void; secrets: StoredSecrets; fieldProps: FieldProps; FE: (p: { k: string }) => ReactNode }) {
  const { s, set, secrets, fieldProps, FE } = props;
  const keep = (stored: boolean) => (stored ? "stored: leave empty to keep" : "");
  const storedHere = secrets.credentials !== null && secrets.credentials === s.credSource;
  return (
    <>
      <fieldset>
        <legend>TLS</legend>
        <label className="check">
          <input type="checkbox" checked={s.tlsVerify} onChange={(e) => set("tlsVerify", e.target.checked)} /> Verify TLS certificates
        </label>
        <label>
          CA bundle (PEM) <span className="muted small">for an upstream signed by a private CA; empty: the system&apos;s CAs</span>
          <textarea name="caCert" rows={3} value={s.caCert} onChange={(e) => set("caCert", e.target.value)} placeholder="-----BEGIN CERTIFICATE-----" spellCheck={false} {...fieldProps("caCert")} />
          <FE k="caCert" />
        </label>
        <div className="row">
          <label>
            Client certificate (PEM) <span className="muted small">mutual TLS</span>
            <textarea name="clientCert" rows={3} value={s.clientCert} onChange={(e) => set("clientCert", e.target.value)} placeholder="-----BEGIN CERTIFICATE-----" spellCheck={false} {...fieldProps("clientCert")} />
            <FE k="clientCert" />
          </label>
          <label>
            <span>
              Client key (PEM) <Stored set={secrets.clientKey} what="clientKey" />
            </span>
            <textarea name="clientKey" rows={3} value={s.clientKey} onChange={(e) => set("clientKey", e.target.value)} placeholder={keep(secrets.clientKey) || "-----BEGIN PRIVATE KEY-----"} spellCheck={false} autoComplete="off" {...fieldProps("clientKey")} />
            <FE k="clientKey" />
          </label>
        </div>
        {secrets.clientKey ? (
          <label className="check">
            <input type="checkbox" checked={s.removeClientKey} onChange={(e) => set("removeClientKey", e.target.checked)} /> Remove the stored client key (clear the certificate too)
          </label>
        ) : null}
      </fieldset>
      <fieldset>
        <legend>Credentials</legend>
        <div className="row">
          <label>
            Credentials source
            <select name="credSource" value={s.credSource} onChange={(e) => set("credSource", e.target.value as CredSource)}>
              {SOURCES.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </label>
          <p className="small muted">
            Stored credentials: <Stored set={secrets.credentials !== null} what="credentials" />
            {secrets.credentials ? ` (${SOURCES.find((o) => o.value === secrets.credentials)?.label.toLowerCase()})` : ""}
            {secrets.credentials && s.credSource !== secrets.credentials ? " · saving removes or replaces them" : ""}
          </p>
        </div>
        {s.credSource === "password" || s.credSource === "identityToken" ? (
          <div className="row">
            <label>
              Username{s.credSource === "identityToken" ? <span className="muted small"> (optional)</span> : null}
              <input name="username" autoComplete="off" value={s.username} onChange={(e) => set("username", e.target.value)} placeholder={keep(storedHere)} {...fieldProps("credentials")} />
            </label>
            {s.credSource === "password" ? (
              <label>
                Password
                <input name="password" type="password" autoComplete="new-password" value={s.password} onChange={(e) => set("password", e.target.value)} placeholder={keep(storedHere)} />
              </label>
            ) : null}
          </div>
        ) : null}
        {s.credSource === "identityToken" || s.credSource === "registryToken" ? (
          <label>
            Token
            <input name="token" type="password" autoComplete="off" value={s.token} onChange={(e) => set("token", e.target.value)} placeholder={keep(storedHere)} {...fieldProps("credentials")} />
          </label>
        ) : null}
        {s.credSource === "dockerConfig" ? (
          <label>
            Docker config path <span className="muted small">on the Ferry host; empty: ~/.docker/config.json. Its credHelpers / credsStore helpers are run as docker-credential-&lt;name&gt;.</span>
            <input name="dockerConfig" value={s.dockerConfigPath} onChange={(e) => set("dockerConfigPath", e.target.value)} placeholder="~/.docker/config.json" {...fieldProps("dockerConfig")} />
            <FE k="dockerConfig" />
          </label>
        ) : null}
        <FE k="credentials" />
      </fieldset>
    </>
  );
}
