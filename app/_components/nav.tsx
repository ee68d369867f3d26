"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useState } from "react";
import { api, errorMessage, leaveTo } from "../_lib/api";

export interface NavItem {
  href: string;
  label: string;
}

export function Nav({ items }: { items: NavItem[] }) {
  const path = usePathname();
  return (
    <nav aria-label="Main">
      <ul className="nav">
        {items.map((i) => {
          const active = i.href === "/" ? path === "/" : path.startsWith(i.href);
          return (
            <li key={i.href}>
              <Link href={i.href} aria-current={active ? "page" : undefined}>
                {i.label}
              </Link>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

export function LogoutButton() {
  const [err, setErr] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  return (
    <>
      <button
        type="button"
        className="btn plain small"
        disabled={pending}
        onClick={async () => {
          setPending(true);
          try {
            await api("DELETE", "/session");
            leaveTo("/login");
          } catch (e) {
            setErr(errorMessage(e));
            setPending(false);
          }
        }}
      >
        {pending ? "Signing out…" : "Sign out"}
      </button>
      {err ? <span role="alert" className="feedback error">{err}</span> : null}
    </>
  );
}
