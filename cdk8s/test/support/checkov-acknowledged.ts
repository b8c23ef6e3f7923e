/**
 * checkov findings the chart accepts on purpose, each with its reason. The
 * checkov test passes these as --skip-check, and fails if one of them stops
 * firing (a stale acknowledgement hides nothing and should go).
 */
export const ACKNOWLEDGED_CHECKOV_CHECKS: Readonly<Record<string, string>> = {
  CKV_K8S_43:
    'Image should use digest: the worker image comes from an ECR repository with immutable tags, so a ' +
    'tag names one image for good. image.digest is supported for deployments that pin digests.',
  CKV_K8S_15:
    'Image pull policy should be Always: with immutable tags (or a digest) a cached image is the right ' +
    'image; IfNotPresent saves a registry round trip on every job pod start and keeps jobs starting ' +
    'while the registry is briefly unreachable.',
};
