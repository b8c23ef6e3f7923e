/**
 * The local app: the JobWorkerChart for kind plus LocalStack, as `make
 * kind-up` applies it. Reads what `provision` printed (JOBS_QUEUE_URL,
 * JOBS_TABLE_NAME, and JOBS_COUNTERS, the table's counting mode, which the
 * workers must share: a worker counting otherwise refuses to start) and optionally AWS_REGION, LOCAL_AWS_ENDPOINT,
 * LOCAL_IMAGE_REPOSITORY and LOCAL_IMAGE_TAG from the environment.
 *
 *   CDK8S_CHECK_UPGRADE=false npx cdk8s synth --app 'npx ts-node local.ts' --output dist/local
 */
import { App } from 'cdk8s';
import { JobWorkerChart, LOCAL_AWS_ENDPOINT, LOCAL_IMAGE, localChartProps } from './src';

const required = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`${name} is required (the value provision printed)`);
  }
  return value;
};

const counting = required('JOBS_COUNTERS');
if (counting !== 'stream' && counting !== 'inline') {
  throw new Error(`JOBS_COUNTERS must be stream or inline (the value provision printed), not ${counting}`);
}

const app = new App();
new JobWorkerChart(
  app,
  'data-processor',
  localChartProps({
    queueUrl: required('JOBS_QUEUE_URL'),
    tableName: required('JOBS_TABLE_NAME'),
    worker: { counting },
    region: process.env.AWS_REGION,
    awsEndpointUrl: process.env.LOCAL_AWS_ENDPOINT ?? LOCAL_AWS_ENDPOINT,
    image: {
      repository: process.env.LOCAL_IMAGE_REPOSITORY ?? LOCAL_IMAGE.repository,
      tag: process.env.LOCAL_IMAGE_TAG ?? LOCAL_IMAGE.tag,
    },
  }),
);
app.synth();
