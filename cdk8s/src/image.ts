/**
 * Container image reference for the worker: a repository plus exactly one of
 * an immutable tag or a digest. No default: the repository belongs to an
 * account.
 */

/** Where the worker image comes from. */
export interface ContainerImage {
  /** Repository URI without tag or digest, e.g. an ECR repository URI. */
  readonly repository: string;
  /** Image tag (the ECR repository uses immutable tags). Give this or `digest`. */
  readonly tag?: string;
  /** Image digest, `sha256:<64 hex>`. Give this or `tag`. */
  readonly digest?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** True for a CDK deploy-time token, which can only be checked once resolved. */
export function isUnresolvedToken(value: string): boolean {
  return value.includes('${Token[');
}

/** `repository:tag` or `repository@sha256:...`, after checking the parts. */
export function imageReference(image: ContainerImage): string {
  const repository = image.repository?.trim() ?? '';
  if (repository === '') {
    throw new Error('image.repository is required');
  }
  if (!isUnresolvedToken(repository) && /[@]|:[^/]*$/.test(repository)) {
    throw new Error(`image.repository must not carry a tag or digest: ${repository}`);
  }
  if ((image.tag === undefined) === (image.digest === undefined)) {
    throw new Error('give exactly one of image.tag and image.digest');
  }
  if (image.digest !== undefined) {
    if (!isUnresolvedToken(image.digest) && !DIGEST.test(image.digest)) {
      throw new Error(`image.digest must look like sha256:<64 hex digits>, got ${image.digest}`);
    }
    return `${repository}@${image.digest}`;
  }
  const tag = image.tag!.trim();
  if (tag === '' || tag === 'latest') {
    throw new Error('image.tag must name an immutable release, not be empty or "latest"');
  }
  return `${repository}:${tag}`;
}
