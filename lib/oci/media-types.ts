/** Manifest media types the client asks for and understands. */
export const MediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  /** Pre-1.1 OCI artifact manifests; some registries still serve them. */
  ociArtifact: "application/vnd.oci.artifact.manifest.v1+json",
} as const;

/** Every manifest type Ferry can mirror, in order of preference for the Accept header. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
  MediaTypes.ociArtifact,
];

/** The Accept header for manifest requests. */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(", ");

/** True for an index / manifest list (a manifest of manifests). */
export function isIndexMediaType(mt: string): boolean {
  return mt === MediaTypes.ociIndex || mt === MediaTypes.dockerManifestList;
}

/** Content-Type without parameters and lowercased. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  const mt = contentType?.split(";")[0]?.trim().toLowerCase();
  return mt ? mt : undefined;
}
