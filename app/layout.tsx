import type { ReactNode } from "react";
import Link from "next/link";
import "./globals.css";
import { LogoutButton, Nav, type NavItem } from "./_components/nav";
import { currentViewer, permsOf } from "./_lib/server";

export const metadata = { title: { default: "Ferry", template: "%s · Ferry" }, description: "Container-registry mirror with a control plane" };
export const viewport = { width: "device-width", initialScale: 1, colorScheme: "light dark" };
export const dynamic = "force-dynamic";

export default async function RootLayout({ children }: { children: ReactNode }) {
  const viewer = await currentViewer().catch(() => null);
  const perms = viewer ? permsOf(viewer) : null;
  const items: NavItem[] = [
    { href: "/", label: "Overview" },
    { href: "/tasks", label: "Tasks" },
    { href: "/registries", label: "Registries" },
    { href: "/repositories", label: "Repositories" },
    ...(perms?.admin ? [{ href: "/audit", label: "Audit log" }, { href: "/users", label: "Users & tokens" }] : []),
  ];
  return (
    <html lang="en">
      <head>{viewer?.csrfToken ? <meta name="ferry-csrf" content={viewer.csrfToken} /> : null}</head>
      <body>
        <a href="#main" className="skip">
          Skip to content
        </a>
        <header className="topbar">
          <Link href="/" className="brand">
            Ferry
          </Link>
          {viewer ? <Nav items={items} /> : null}
          {viewer ? (
            <div className="who">
              <span data-testid="whoami">
                {viewer.username} <span className="pill muted">{viewer.role}</span>
              </span>
              <LogoutButton />
            </div>
          ) : null}
        </header>
        <main id="main">{children}</main>
      </body>
    </html>
  );
}
