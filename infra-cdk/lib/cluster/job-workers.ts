/**
 * The job workers on the cluster: the cdk8s `JobWorkerChart` (ScaledJob,
 * TriggerAuthentication, ServiceAccount, NetworkPolicy, Karpenter NodePool and
 * EC2NodeClass) fed with the real queue, table, region, image and node role,
 * and the worker's pod identity: receive, delete and change visibility on the
 * job queue, and the item operations the worker performs on the table.
 *
 * The chart is applied with pruning (`kubectl apply --prune -l <prune label>`,
 * so objects removed from the chart are deleted), and the ScaledJob tells KEDA
 * not to copy that prune label onto the Jobs it creates: a Job carrying it
 * (KEDA copies the ScaledJob's labels and its last-applied annotation) would be
 * pruned by the next deploy, its running attempt killed.
 */
import { Lazy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { App as Cdk8sApp } from 'cdk8s';
import { JobWorkerChart, ScalingOptions, WorkerSettings } from 'jobs-cdk8s';
import { Construct } from 'constructs';
import { grantFromTable, tableResources } from '../grants';
import { PodIdentityRole } from './pod-identity-role';


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
  /**
   * Pause KEDA for the ScaledJob: no Jobs start, messages wait in the queue.
   * For a first deploy, before the image is in the repository
   * (scripts/deploy.sh passes `-c workersPaused=true` then).
   * @default the `workersPaused` context value ("true"), else false
   */
  readonly paused?: boolean;
}

/** Prefix of the label CDK's KubernetesManifest puts on every object it prunes by. */
export const CDK_PRUNE_LABEL_PREFIX = 'aws.cdk.eks/prune-';

/** Whether the `workersPaused` context asks for a paused ScaledJob (`-c workersPaused=true`). */
export function workersPausedContext(scope: Construct): boolean {
  const value: unknown = scope.node.tryGetContext('workersPaused');
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new Error(`context workersPaused must be true or false, not ${JSON.stringify(value)}`);
}

/** The label key a pruning KubernetesManifest selects its objects by (`kubectl apply --prune -l <key>`). */
export function pruneLabelOf(manifest: eks.KubernetesManifest): string {
  return `${CDK_PRUNE_LABEL_PREFIX}${manifest.node.addr}`;
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
    // What the worker's code calls (settings/grants.json), each table grant under its key prefixes.
    grantFromTable(this.identity.role, 'data-processor', {
      ...tableResources(props.table.tableArn, []),
      queue: props.queue.queueArn,
    });

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
      // The manifest's prune label is known once the manifest exists (it
      // derives from its construct address): resolved at synth.
      jobExcludedLabels: [Lazy.string({ produce: () => pruneLabelOf(this.manifest) })],
      paused: props.paused ?? workersPausedContext(this),
    });
    this.manifest = props.cluster.addCdk8sChart('Workers', this.chart, { prune: true });
    this.manifest.node.addDependency(this.identity.association, ...props.dependsOn);
  }
}
