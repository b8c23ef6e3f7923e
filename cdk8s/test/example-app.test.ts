/**
 * The example app (main.ts), as `cdk8s synth` runs it: it writes one
 * manifest file, with example values from the environment or the documented
 * example account, and nothing else account-like.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';

/** Runs main.ts in-process with `env`, returns the written file's text and documents. */
function runExampleApp(env: Record<string, string>): { files: string[]; text: string; docs: any[] } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-cdk8s-app-'));
  const saved = { ...process.env };
  Object.assign(process.env, env, { CDK8S_OUTDIR: outdir });
  try {
    jest.isolateModules(() => {
      require('../main');
    });
    const files = fs.readdirSync(outdir);
    const file = path.join(outdir, 'data-processor.k8s.yaml');
    return { files, text: fs.readFileSync(file, 'utf8'), docs: Yaml.load(file) };
  } finally {
    process.env = saved;
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

test('synthesizes dist/data-processor.k8s.yaml with the example values', () => {
  const { files, text, docs } = runExampleApp({});
  expect(files).toEqual(['data-processor.k8s.yaml']);
  expect(docs.map((d) => d.kind)).toEqual([
    'Namespace',
    'ServiceAccount',
    'TriggerAuthentication',
    'ScaledJob',
    'NetworkPolicy',
    'EC2NodeClass',
    'NodePool',
  ]);
  const accountIds = new Set(text.match(/(?<![0-9])[0-9]{12}(?![0-9])/g));
  expect([...accountIds]).toEqual(['111122223333']);
});

test('takes its values from the environment', () => {
  const { docs } = runExampleApp({
    JOBS_EXAMPLE_REGION: 'us-east-2',
    JOBS_EXAMPLE_QUEUE_URL: 'https://sqs.us-east-2.amazonaws.com/000000000000/other',
    JOBS_EXAMPLE_IMAGE_TAG: '9.9.9',
    JOBS_EXAMPLE_MAX_REPLICAS: '4',
  });
  const scaledJob = docs.find((d) => d.kind === 'ScaledJob');
  expect(scaledJob.spec.maxReplicaCount).toBe(4);
  expect(scaledJob.spec.triggers[0].metadata).toMatchObject({
    awsRegion: 'us-east-2',
    queueURL: 'https://sqs.us-east-2.amazonaws.com/000000000000/other',
  });
  expect(scaledJob.spec.jobTargetRef.template.spec.containers[0].image).toMatch(/:9\.9\.9$/);
});
