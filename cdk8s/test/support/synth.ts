/** Synthesizes the chart with test props and gives helpers to pick objects out. */
import { Testing } from 'cdk8s';
import { JobNodesOptions, JobWorkerChart, JobWorkerChartProps, localChartProps } from '../../src';

/** A Kubernetes manifest as plain JSON. */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: any }; [k: string]: any };

/** The test node pool (made-up names). */
export function testNodes(): JobNodesOptions {
  return {
    clusterName: 'jobs-test-cluster',
    nodeRoleName: 'jobs-test-node-role',
    cpuLimit: '16',
    memoryLimit: '64Gi',
  };
}

/**
 * Props with made-up values and no AWS account id anywhere: the tests check
 * that the library adds none of its own.
 */
export function testProps(overrides: Partial<JobWorkerChartProps> = {}): JobWorkerChartProps {
  return {
    namespace: 'jobs-test',
    queueUrl: 'https://sqs.eu-central-1.amazonaws.com/queue-owner/jobs-test-queue',
    tableName: 'jobs-test-table',
    region: 'eu-central-1',
    image: { repository: 'registry.test/jobs/data-processor', tag: '1.2.3' },
    scaling: { maxReplicaCount: 12 },
    nodes: testNodes(),
    ...overrides,
  };
}

/** The local chart's props (kind + LocalStack), with what `provision` prints against LocalStack. */
export function testLocalProps(): JobWorkerChartProps {
  return localChartProps({
    queueUrl: 'http://localhost.localstack.cloud:4566/000000000000/local-jobs',
    tableName: 'local-jobs',
  });
}

/** Builds the chart (throws what the chart throws). */
export function buildChart(props: JobWorkerChartProps = testProps()): JobWorkerChart {
  return new JobWorkerChart(Testing.app(), 'test', props);
}

/** Synthesizes to manifests. */
export function synthManifests(props: JobWorkerChartProps = testProps()): Manifest[] {
  return Testing.synth(buildChart(props)) as Manifest[];
}

/** The one manifest of a kind; fails when there is not exactly one. */
export function only(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind);
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${kind}, found ${found.length}`);
  }
  return found[0];
}

/**
 * The Job KEDA would create from the ScaledJob's jobTargetRef, as a plain
 * batch/v1 Job, so that core-schema and policy tools (which do not know
 * ScaledJob) check the pod template too.
 */
export function jobFromScaledJob(scaledJob: Manifest): Manifest {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: scaledJob.metadata.name,
      namespace: scaledJob.metadata.namespace,
      labels: scaledJob.metadata.labels,
    },
    spec: scaledJob.spec.jobTargetRef,
  };
}
