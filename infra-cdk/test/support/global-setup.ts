/**
 * Runs the real `cdk synth` once per test run (it takes tens of seconds), with
 * no AWS credentials and fixture Lambda bundles, into SYNTH_DIR; the test
 * files read the cloud assembly from there. cdk-nag runs as part of it: a
 * finding that is not acknowledged fails the synth, and so the whole run.
 */
import { spawnSync } from 'child_process';
import { mkdirSync, rmSync, writeFileSync } from 'fs';
import { join } from 'path';
import { CDK_OUT, FIXTURE_LAMBDA_DIR, LAMBDA_BINARIES, PACKAGE_DIR, SYNTH_DIR, TEST_ENDPOINT_CIDR } from './paths';

export default function globalSetup(): void {
  rmSync(SYNTH_DIR, { recursive: true, force: true });
  for (const binary of LAMBDA_BINARIES) {
    mkdirSync(join(FIXTURE_LAMBDA_DIR, binary), { recursive: true });
    // Synth only stages the file as an asset; its content is never run.
    writeFileSync(join(FIXTURE_LAMBDA_DIR, binary, 'bootstrap.zip'), `fixture bundle for ${binary}\n`);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true' };
  // No credentials and no profile: synth must not need an account.
  for (const name of Object.keys(env)) {
    if (/^AWS_/.test(name)) delete env[name];
  }
  env.AWS_CONFIG_FILE = '/nonexistent';
  env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent';
  const started = Date.now();
  const result = spawnSync(
    'npx',
    ['cdk', 'synth', '--quiet', '--no-notices', '-o', CDK_OUT, '-c', `lambdaDir=${FIXTURE_LAMBDA_DIR}`, '-c', 'imageTag=0.1.0-test', '-c', `clusterPublicEndpointCidrs=${TEST_ENDPOINT_CIDR}`],
    { cwd: PACKAGE_DIR, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  writeFileSync(join(SYNTH_DIR, 'synth.log'), `${result.stdout}\n${result.stderr}`);
  if (result.status !== 0) {
    throw new Error(`cdk synth failed (exit ${result.status}) after ${seconds} s:\n${result.stdout}\n${result.stderr}`);
  }
  process.stdout.write(`\ncdk synth (with cdk-nag) took ${seconds} s\n`);
}
