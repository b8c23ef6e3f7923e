/** Where the tests find things: the package, the repository, the shared synth output. */
import { join } from 'path';

export const PACKAGE_DIR = join(__dirname, '..', '..');
export const REPO_DIR = join(PACKAGE_DIR, '..');
/** One `cdk synth` per test run writes here (global-setup.ts); every test file reads it. */
export const SYNTH_DIR = join(PACKAGE_DIR, '.test-synth');
export const CDK_OUT = join(SYNTH_DIR, 'cdk.out');
/** Fixture Lambda bundles the synth reads instead of `make lambdas` output. */
export const FIXTURE_LAMBDA_DIR = join(SYNTH_DIR, 'lambda');
export const STACK_NAME = 'JobsApi';
/** The CIDR block the test synth names for the cluster's API endpoint (a documentation range). */
export const TEST_ENDPOINT_CIDR = '203.0.113.0/24';
/** The Lambda binaries the app deploys. */
export const LAMBDA_BINARIES = ['jobs-api', 'stats-api', 'schedules-api', 'reconciler', 'counter-aggregator'];
