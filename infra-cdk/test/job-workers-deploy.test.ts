/**
 * scripts/deploy.sh puts the worker image in the repository before the
 * ScaledJob may start Jobs that name it. The real script runs in a scratch
 * copy of the repository layout with fake build scripts and stub `aws`,
 * `docker`, `npm` and `npx` that record every call; the stack "exists" once a
 * `cdk deploy` ran.
 */
import { spawnSync } from 'child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { REPO_DIR } from './support/paths';

const REPO_URI = 'registry.example/jobsapi-workerimages';

const STUB = `#!/usr/bin/env bash
tool=$(basename "$0")
echo "$tool $*" >>"$DEPLOY_LOG"
case "$tool $*" in
  "aws cloudformation describe-stacks"*RepositoryUri*)
    [[ -f $STACK_STATE ]] || exit 254
    echo "${REPO_URI}" ;;
  "aws cloudformation describe-stacks"*) [[ -f $STACK_STATE ]] || exit 254 ;;
  "aws ecr get-login-password") echo secret ;;
  # As docker login --password-stdin does: read the password (a stub that does not
  # read would make the writer die of SIGPIPE under pipefail).
  "docker login"*) cat >/dev/null ;;
  "aws ecr describe-images"*) [[ -f $PUSHED ]] || exit 254 ;;
  "docker push"*) touch "$PUSHED" ;;
  "npx cdk deploy"*) touch "$STACK_STATE" ;;
esac
exit 0
`;

const FAKE_SCRIPT = (name: string) => `#!/usr/bin/env bash
echo "${name} IMAGE_ARCH=\${IMAGE_ARCH:-unset} $*" >>"$DEPLOY_LOG"
[[ ${name} != image.sh ]] || echo "data-processor:$1"
`;

interface Run {
  status: number | null;
  calls: string[];
  output: string;
}

function deploy(work: string, extraEnv: Record<string, string> = {}): Run {
  const log = join(work, 'calls.log');
  writeFileSync(log, '');
  const result = spawnSync('bash', [join(work, 'scripts', 'deploy.sh'), 'abc123'], {
    cwd: work,
    encoding: 'utf8',
    env: {
      PATH: `${join(work, 'stubs')}:/usr/bin:/bin`,
      HOME: work,
      AWS_REGION: 'test-region-1',
      DEPLOY_LOG: log,
      STACK_STATE: join(work, 'stack-exists'),
      PUSHED: join(work, 'pushed'),
      ...extraEnv,
    },
  });
  return {
    status: result.status,
    calls: readFileSync(log, 'utf8').trim().split('\n'),
    output: `${result.stdout}\n${result.stderr}`,
  };
}

describe('scripts/deploy.sh orders the image push before the workers run', () => {
  let work: string;

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'deploy-test-'));
    mkdirSync(join(work, 'scripts'));
    mkdirSync(join(work, 'infra-cdk'));
    mkdirSync(join(work, 'stubs'));
    copyFileSync(join(REPO_DIR, 'scripts', 'deploy.sh'), join(work, 'scripts', 'deploy.sh'));
    for (const name of ['lambdas.sh', 'image.sh']) {
      writeFileSync(join(work, 'scripts', name), FAKE_SCRIPT(name));
    }
    writeFileSync(join(work, 'stubs', 'stub'), STUB);
    chmodSync(join(work, 'stubs', 'stub'), 0o755);
    for (const tool of ['aws', 'docker', 'npm', 'npx']) {
      symlinkSync('stub', join(work, 'stubs', tool));
    }
  });

  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const steps = (calls: string[]) =>
    calls
      .map((c) =>
        c.startsWith('npx cdk deploy')
          ? c.includes('workersPaused=true') ? 'deploy paused' : 'deploy'
          : c.startsWith('docker push') ? 'push'
          : c.startsWith('image.sh') ? 'image'
          : '',
      )
      .filter((s) => s !== '');

  test('first deploy: stack with the workers paused, then the push, then the workers', () => {
    const run = deploy(work);
    expect(run.status).toBe(0);
    expect(steps(run.calls)).toEqual(['image', 'deploy paused', 'push', 'deploy']);
    expect(run.calls).toContain(`docker push ${REPO_URI}:abc123`);
    expect(run.calls.filter((c) => c.startsWith('npx cdk deploy')).every((c) => c.includes('-c imageTag=abc123'))).toBe(true);
  });

  test('later deploys push first and deploy once, unpaused', () => {
    writeFileSync(join(work, 'stack-exists'), '');
    const run = deploy(work);
    expect(run.status).toBe(0);
    expect(steps(run.calls)).toEqual(['image', 'push', 'deploy']);
  });

  test('an image already pushed (immutable tags) is not pushed again', () => {
    writeFileSync(join(work, 'stack-exists'), '');
    writeFileSync(join(work, 'pushed'), '');
    const run = deploy(work);
    expect(run.status).toBe(0);
    expect(steps(run.calls)).toEqual(['image', 'deploy']);
  });

  test('the image is built for the nodes whatever IMAGE_ARCH the shell has', () => {
    const run = deploy(work, { IMAGE_ARCH: 'host' });
    expect(run.calls.find((c) => c.startsWith('image.sh'))).toBe('image.sh IMAGE_ARCH=unset data-processor:abc123');
    expect(existsSync(join(work, 'pushed'))).toBe(true);
  });
});
