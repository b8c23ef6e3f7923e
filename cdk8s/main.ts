/**
 * Example app: synthesizes the JobWorkerChart to dist/ with clearly fake
 * example values (AWS's documentation account 111122223333). Override any of
 * them with the environment variables below; the real deployment passes real
 * values from the CDK app instead.
 */
import { App } from 'cdk8s';
import { JobWorkerChart } from './src';

const env = (name: string, example: string): string => process.env[name] ?? example;
const region = env('JOBS_EXAMPLE_REGION', 'eu-west-1');
const account = env('JOBS_EXAMPLE_ACCOUNT', '111122223333');

const app = new App();
new JobWorkerChart(app, 'data-processor', {
  namespace: env('JOBS_EXAMPLE_NAMESPACE', 'jobs'),
  queueUrl: env('JOBS_EXAMPLE_QUEUE_URL', `https://sqs.${region}.amazonaws.com/${account}/jobs-queue`),
  tableName: env('JOBS_EXAMPLE_TABLE_NAME', 'jobs'),
  region,
  image: {
    repository: env('JOBS_EXAMPLE_IMAGE_REPOSITORY', `${account}.dkr.ecr.${region}.amazonaws.com/data-processor`),
    tag: env('JOBS_EXAMPLE_IMAGE_TAG', '0.1.0'),
  },
  scaling: { maxReplicaCount: Number(env('JOBS_EXAMPLE_MAX_REPLICAS', '20')) },
  nodes: {
    clusterName: env('JOBS_EXAMPLE_CLUSTER_NAME', 'jobs-example'),
    nodeRoleName: env('JOBS_EXAMPLE_NODE_ROLE_NAME', 'KarpenterNodeRole-jobs-example'),
    cpuLimit: env('JOBS_EXAMPLE_NODE_CPU_LIMIT', '32'),
    memoryLimit: env('JOBS_EXAMPLE_NODE_MEMORY_LIMIT', '128Gi'),
  },
});
app.synth();
