/** Locations the tests use, resolved from this file so they work from any cwd. */
import * as path from 'path';

/** The cdk8s project directory. */
export const CDK8S_DIR = path.resolve(__dirname, '..', '..');

/**
 * Upstream CRDs: `shared/crds` beside the repository (two levels above the
 * cdk8s directory). JOBS_CRDS_DIR overrides it.
 */
export const CRDS_DIR = process.env.JOBS_CRDS_DIR ?? path.resolve(CDK8S_DIR, '..', '..', 'shared', 'crds');
