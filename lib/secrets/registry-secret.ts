/**
 * The part of a registry config that is secret: stored sealed in `registry.secret`, bound to the
 * registry's id. Whoever builds a sync service from a registry row merges it back into `config`
 * (`openJson<RegistrySecret>(key, row.secret, registrySecretAad(row.id))`).
 */
export interface RegistrySecret {
  credentials?: { username: string; password: string } | { identityToken: string; username?: string } | { registryToken: string };
  clientKey?: string;
}

/** The associated data a registry's secret box is bound to. */
export function registrySecretAad(registryId: string): string {
  return `ferry:registry:${registryId}`;
}
