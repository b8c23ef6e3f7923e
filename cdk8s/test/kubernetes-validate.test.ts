/**
 * Every core object (and the Job KEDA would create from the ScaledJob's
 * template) against the Kubernetes 1.33 OpenAPI schemas, strictly (unknown
 * fields fail), with the PyPI tool `kubernetes-validate`. The tool must be on
 * PATH: a missing tool fails the suite.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { jobFromScaledJob, Manifest, only, synthManifests, testLocalProps, testProps } from './support/synth';
import { requireTool, runTool } from './support/tools';

const TOOL = 'kubernetes-validate';
const KUBERNETES_VERSION = '1.33';
const CUSTOM_GROUPS = /^(keda\.sh|karpenter\.sh|karpenter\.k8s\.aws)\//;

let workDir: string;

function writeManifest(name: string, manifests: Manifest[]): string {
  const file = path.join(workDir, `${name}.yaml`);
  // cdk8s's own writer, so the file is what `cdk8s synth` writes (YAML 1.1 quoting).
  fs.writeFileSync(file, Yaml.stringify(...manifests));
  return file;
}

function validate(files: string[]) {
  return runTool(TOOL, ['--strict', '-k', KUBERNETES_VERSION, ...files]);
}

beforeAll(() => {
  requireTool(TOOL);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-cdk8s-kv-'));
});

afterAll(() => {
  if (workDir) {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
});

test(`${TOOL} is installed`, () => {
  expect(requireTool(TOOL)).toMatch(/\d+\.\d+/);
});

describe.each([
  ['default props', testProps()],
  [
    'every option set',
    testProps({
      identity: { irsaRoleArn: 'arn:aws:iam::role-owner:role/worker', kedaRoleArn: 'arn:aws:iam::role-owner:role/keda' },
      image: { repository: 'registry.test/jobs/data-processor', digest: `sha256:${'c'.repeat(64)}` },
      extraEnv: { AWS_ENDPOINT_URL: 'http://emulator.test:4566' },
      networkPolicy: { extraEgressTcpPorts: [4566] },
    }),
  ],
  ['the local chart (kind + LocalStack)', testLocalProps()],
])('core objects with %s', (_name, props) => {
  const manifests = synthManifests(props);
  const core = manifests.filter((m) => !CUSTOM_GROUPS.test(m.apiVersion));
  const job = jobFromScaledJob(only(manifests, 'ScaledJob'));

  test('there are core objects to check', () => {
    const expected = ['Namespace', 'NetworkPolicy', 'ServiceAccount', ...(props.staticCredentials ? ['Secret'] : [])];
    expect(core.map((m) => m.kind).sort()).toEqual(expected.sort());
  });

  test.each([...core, job].map((m) => [`${m.kind} ${m.metadata.name}`, m] as const))('%s validates strictly', (name, manifest) => {
    const file = writeManifest(name.replace(/\W+/g, '-'), [manifest]);
    const result = validate([file]);
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({
      status: 0,
      output: expect.stringContaining(`passed for resource ${manifest.kind.toLowerCase()}/${manifest.metadata.name}`),
    });
    expect(result.stdout + result.stderr).not.toMatch(/ERROR/);
  });

  test('the whole chart passes (custom resources are only warned about)', () => {
    const result = validate([writeManifest('chart', manifests)]);
    expect({ status: result.status, errors: (result.stdout + result.stderr).match(/^ERROR.*$/gm) }).toEqual({
      status: 0,
      errors: null,
    });
  });
});

test('a broken core object fails (the check can fail)', () => {
  const job = jobFromScaledJob(only(synthManifests(), 'ScaledJob'));
  job.spec.template.spec.containers[0].unknownField = true;
  const sa = { ...only(synthManifests(), 'ServiceAccount'), automountServiceAccountToken: 'no' };
  for (const [name, manifest] of [['broken-job', job], ['broken-sa', sa]] as const) {
    const result = validate([writeManifest(name, [manifest])]);
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/ERROR .* did not validate/);
  }
});
