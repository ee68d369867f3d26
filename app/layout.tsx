import type { ReactNode } from "react";
import "./globals.css";

export const metadata = { title: "Ferry", description: "Container-registry mirror with a control plane" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <strong>Ferry</strong>
          <span className="muted">registry mirror</span>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
