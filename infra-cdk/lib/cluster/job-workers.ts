/**
 * The job workers on the cluster: the cdk8s `JobWorkerChart` (ScaledJob,
 * TriggerAuthentication, ServiceAccount, NetworkPolicy, Karpenter NodePool and
 * EC2NodeClass) fed with the real queue, table, region, image and node role,
 * and the worker's pod identity: receive, delete and change visibility on the
 * job queue, and the item operations the worker performs on the table.
 */
import { Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { App as Cdk8sApp } from 'cdk8s';
import { JobWorkerChart, ScalingOptions, WorkerSettings } from 'jobs-cdk8s';
import { Construct } from 'constructs';
import { PodIdentityRole } from './pod-identity-role';

/** SQS actions of the worker (job-core/src/queue/sqs.rs: receive, change visibility, delete). */
export const WORKER_QUEUE_ACTIONS = ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage'];
/**
 * DynamoDB actions of the worker (job-core/src/store/dynamodb.rs): GetItem (read a job),
 * PutItem (claim, record; also the Put inside TransactWriteItems), UpdateItem (lease
 * extension; the counter updates inside TransactWriteItems). TransactWriteItems has
 * no IAM action of its own: IAM checks each item's action.
 */
export const WORKER_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];

/** Props of {@link JobWorkers}. */
export interface JobWorkersProps {
  readonly cluster: eks.Cluster;
  readonly clusterName: string;
  readonly queue: sqs.IQueue;
  readonly table: dynamodb.ITable;
  readonly repository: ecr.IRepository;
  /** Image tag in the repository (immutable tags: one per build). */
  readonly imageTag: string;
  /** Role of the Karpenter job nodes. */
  readonly nodeRole: iam.IRole;
  /** The worker's tunables; the visibility timeout must be the queue's. */
  readonly worker: WorkerSettings;
  readonly scaling: ScalingOptions;
  /** Karpenter pool limits. */
  readonly nodeCpuLimit: string;
  readonly nodeMemoryLimit: string;
  /** Must be installed first (CRDs, pod identity). */
  readonly dependsOn: Construct[];
}

export class JobWorkers extends Construct {
  public readonly chart: JobWorkerChart;
  public readonly manifest: eks.KubernetesManifest;
  public readonly identity: PodIdentityRole;

  constructor(scope: Construct, id: string, props: JobWorkersProps) {
    super(scope, id);
    const namespace = 'jobs';
    const serviceAccount = 'data-processor';

    this.identity = new PodIdentityRole(this, 'WorkerIdentity', {
      cluster: props.cluster,
      clusterName: props.clusterName,
      namespace,
      serviceAccount,
      description: 'data-processor job pods: take jobs from the queue, record them in the table',
    });
    this.identity.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: WORKER_QUEUE_ACTIONS, resources: [props.queue.queueArn] }),
    );
    this.identity.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: WORKER_TABLE_ACTIONS, resources: [props.table.tableArn] }),
    );

    this.chart = new JobWorkerChart(new Cdk8sApp(), 'data-processor', {
      namespace,
      queueUrl: props.queue.queueUrl,
      tableName: props.table.tableName,
      region: Stack.of(this).region,
      image: { repository: props.repository.repositoryUri, tag: props.imageTag },
      worker: props.worker,
      scaling: props.scaling,
      identity: { serviceAccountName: serviceAccount },
      nodes: {
        clusterName: props.clusterName,
        nodeRoleName: props.nodeRole.roleName,
        cpuLimit: props.nodeCpuLimit,
        memoryLimit: props.nodeMemoryLimit,
      },
    });
    this.manifest = props.cluster.addCdk8sChart('Workers', this.chart);
    this.manifest.node.addDependency(this.identity.association, ...props.dependsOn);
  }
}
