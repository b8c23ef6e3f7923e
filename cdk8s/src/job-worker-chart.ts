/**
 * JobWorkerChart: everything Kubernetes needs to run `data-processor` jobs
 * from the SQS queue on dedicated Karpenter nodes. A cdk8s Chart, so it can be
 * synthesized on its own (see main.ts) or added to an EKS cluster by the CDK
 * app. Everything account-specific comes in through props; the library holds
 * no account ids, ARNs or cluster names.
 */
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { ContainerImage } from './image';
import { Component, standardLabels } from './labels';
import { WorkerNamespace } from './namespace';
import { ClusterDnsSelector, WorkerNetworkPolicy } from './network-policy';
import { JobNodeClass } from './node-class';
import { JobNodePool, NodePoolCapacity } from './node-pool';
import { parseQuantity } from './quantity';
import {
  ImagePullPolicy,
  JobOptions,
  ScalingOptions,
  WorkerResources,
  WorkerScaledJob,
} from './scaled-job';
import { WorkerServiceAccount } from './service-account';
import { StaticCredentialsOptions, StaticCredentialsSecret } from './static-credentials';
import { QueueTriggerAuthentication } from './trigger-authentication';
import { requireNonEmpty, resolveWorkerSettings, WorkerSettings } from './worker-settings';

/** Identity of the worker pods. */
export interface WorkerIdentityOptions {
  /** ServiceAccount name; the EKS pod identity association must name the same. @default 'data-processor' */
  readonly serviceAccountName?: string;
  /**
   * IAM role ARN for IRSA, written to the `eks.amazonaws.com/role-arn`
   * annotation. Leave unset with EKS Pod Identity (the default), where the
   * role is bound by a pod identity association on the AWS side.
   * @default no annotation (EKS Pod Identity)
   */
  readonly irsaRoleArn?: string;
  /**
   * Role KEDA assumes to read the queue's attributes. Unset: KEDA uses its
   * operator's own pod identity.
   * @default KEDA's own identity
   */
  readonly kedaRoleArn?: string;
}

/** The job nodes: where they come from and how many there may be. */
export interface JobNodesOptions extends NodePoolCapacity {
  /** EKS cluster name; subnets and security groups are selected by `karpenter.sh/discovery: <clusterName>`. */
  readonly clusterName: string;
  /** Name of the IAM role for the nodes (Karpenter's node role), not its ARN. */
  readonly nodeRoleName: string;
  /** Pinned Bottlerocket alias, `bottlerocket@vX.Y.Z`. @default DEFAULT_BOTTLEROCKET_AMI_ALIAS */
  readonly amiAlias?: string;
  /** Bottlerocket data volume size. @default '20Gi' */
  readonly dataVolumeSize?: string;
  /** KMS key id or ARN for the node volumes. @default the account's default EBS encryption key */
  readonly kmsKeyId?: string;
  /** Extra tags for launched instances and volumes. @default none */
  readonly tags?: Record<string, string>;
  /** Name of the NodePool and EC2NodeClass (cluster-scoped). @default the chart's appName */
  readonly poolName?: string;
}

/** Props of {@link JobWorkerChart}. */
export interface JobWorkerChartProps {
  /** Namespace of the worker objects. @default 'jobs' */
  readonly namespace?: string;
  /** Whether the chart creates the namespace (false when something else owns it). @default true */
  readonly createNamespace?: boolean;
  /** `app.kubernetes.io/name` and base name of the objects. @default 'data-processor' */
  readonly appName?: string;
  /** `app.kubernetes.io/part-of`. @default 'jobs-api' */
  readonly partOf?: string;

  /** SQS queue URL (`JOBS_QUEUE_URL`, and the queue KEDA watches). */
  readonly queueUrl: string;
  /** DynamoDB table name (`JOBS_TABLE_NAME`). */
  readonly tableName: string;
  /** AWS region of queue and table (`AWS_REGION`, and the trigger's awsRegion). */
  readonly region: string;
  /** Worker image: repository plus tag or digest. */
  readonly image: ContainerImage;
  /**
   * Pull policy of the worker image; `Never` for an image loaded into the
   * nodes by hand (`kind load`). @default 'IfNotPresent'
   */
  readonly imagePullPolicy?: ImagePullPolicy;

  /** Worker tunables (retries, timeouts, shutdown grace, log level). @default the worker's defaults */
  readonly worker?: WorkerSettings;
  /** Extra container environment (e.g. AWS_ENDPOINT_URL); may not redefine a contract variable. @default none */
  readonly extraEnv?: Record<string, string>;
  /** Container CPU and memory. @default 250m/256Mi requests, 1/512Mi limits */
  readonly resources?: WorkerResources;
  /** KEDA scaling: maxReplicaCount (required), polling interval, history limits. */
  readonly scaling: ScalingOptions;
  /** Job object settings (startup allowance, TTL). @default 180 s allowance, 1 h TTL */
  readonly job?: JobOptions;
  /** Identity of the worker and of KEDA. @default EKS Pod Identity, SA 'data-processor' */
  readonly identity?: WorkerIdentityOptions;
  /**
   * The dedicated Karpenter node pool, or `false` for a cluster without
   * Karpenter (kind): no NodePool or EC2NodeClass, and the job pods run on
   * any Linux node.
   */
  readonly nodes: JobNodesOptions | false;
  /**
   * AWS endpoint for a cluster outside AWS (LocalStack): the worker's
   * `AWS_ENDPOINT_URL` and the SQS trigger's `awsEndpoint`.
   * @default AWS itself
   */
  readonly awsEndpointUrl?: string;
  /**
   * Static credentials (an emulator's test keys) in a Secret, used by the
   * worker and by KEDA instead of pod identity. Never for a real account.
   * @default none: EKS Pod Identity
   */
  readonly staticCredentials?: StaticCredentialsOptions;
  /**
   * ScaledJob label keys KEDA must not copy onto its Jobs (see
   * WorkerScaledJobProps.jobExcludedLabels), such as a deployment's prune label.
   * @default none beyond `app.kubernetes.io/managed-by`
   */
  readonly jobExcludedLabels?: string[];
  /** KEDA creates no Jobs while true (until the image is pushed, say). @default false */
  readonly paused?: boolean;
  /** The job pods' NetworkPolicy. @default created: egress to the cluster DNS, HTTPS and the pod identity agent only */
  readonly networkPolicy?: NetworkPolicyOptions;
}

/** The job pods' NetworkPolicy. */
export interface NetworkPolicyOptions {
  /** Whether to create it. @default true */
  readonly enabled?: boolean;
  /** Extra TCP ports the pods may reach, e.g. for AWS_ENDPOINT_URL on a custom port. @default none */
  readonly extraEgressTcpPorts?: number[];
  /** The cluster DNS pods the job pods may query. @default CoreDNS in kube-system (k8s-app=kube-dns) */
  readonly dns?: ClusterDnsSelector;
}

/** The chart. Its parts are exposed for the CDK app and for tests. */
export class JobWorkerChart extends Chart {
  /** Namespace the worker objects live in. */
  public readonly namespaceName: string;
  /** The Namespace, unless `createNamespace` is false. */
  public readonly workerNamespace?: WorkerNamespace;
  /** The worker's ServiceAccount. */
  public readonly serviceAccount: WorkerServiceAccount;
  /** The static credentials' Secret, when `staticCredentials` is set. */
  public readonly credentialsSecret?: StaticCredentialsSecret;
  /** KEDA's authentication for the SQS trigger. */
  public readonly triggerAuthentication: QueueTriggerAuthentication;
  /** The ScaledJob. */
  public readonly scaledJob: WorkerScaledJob;
  /** The job pods' NetworkPolicy, unless disabled. */
  public readonly networkPolicy?: WorkerNetworkPolicy;
  /** The EC2NodeClass, unless `nodes` is false. */
  public readonly nodeClass?: JobNodeClass;
  /** The NodePool, unless `nodes` is false. */
  public readonly nodePool?: JobNodePool;

  constructor(scope: Construct, id: string, props: JobWorkerChartProps) {
    // Chart-level `namespace` is not used: it would also stamp a namespace on
    // the cluster-scoped NodePool and EC2NodeClass. Namespaced objects set it.
    super(scope, id, { disableResourceNameHashes: true });
    const appName = props.appName ?? 'data-processor';
    const partOf = props.partOf ?? 'jobs-api';
    this.namespaceName = props.namespace ?? 'jobs';
    requireNonEmpty('appName', appName);
    requireNonEmpty('namespace', this.namespaceName);
    const labels = (component: Component) => standardLabels({ name: appName, partOf, component });
    const worker = resolveWorkerSettings(props.worker);
    const identity = props.identity ?? {};
    const nodes = props.nodes === false ? undefined : props.nodes;
    const poolName = nodes?.poolName ?? appName;

    if (props.createNamespace ?? true) {
      this.workerNamespace = new WorkerNamespace(this, 'Namespace', {
        name: this.namespaceName,
        labels: labels('namespace'),
      });
    }

    this.serviceAccount = new WorkerServiceAccount(this, 'ServiceAccount', {
      name: identity.serviceAccountName ?? appName,
      namespace: this.namespaceName,
      labels: labels('worker'),
      irsaRoleArn: identity.irsaRoleArn,
    });

    if (props.staticCredentials) {
      this.credentialsSecret = new StaticCredentialsSecret(this, 'CredentialsSecret', {
        ...props.staticCredentials,
        secretName: props.staticCredentials.secretName ?? `${appName}-aws-credentials`,
        namespace: this.namespaceName,
        labels: labels('worker'),
      });
    }

    this.triggerAuthentication = new QueueTriggerAuthentication(this, 'TriggerAuthentication', {
      name: `${appName}-sqs`,
      namespace: this.namespaceName,
      labels: labels('autoscaler'),
      roleArn: identity.kedaRoleArn,
      credentialsSecretName: this.credentialsSecret?.name,
    });

    const podLabels = standardLabels({ name: appName, partOf, component: 'worker', managed: false });
    this.scaledJob = new WorkerScaledJob(this, 'ScaledJob', {
      name: appName,
      namespace: this.namespaceName,
      labels: labels('worker'),
      podLabels,
      queueUrl: props.queueUrl,
      tableName: props.tableName,
      region: props.region,
      image: props.image,
      worker,
      extraEnv: props.extraEnv,
      resources: props.resources,
      scaling: props.scaling,
      job: props.job,
      serviceAccountName: this.serviceAccount.name,
      triggerAuthenticationName: this.triggerAuthentication.name,
      dedicatedNodes: nodes ? { nodePoolName: poolName, taintValue: appName } : undefined,
      awsEndpointUrl: props.awsEndpointUrl,
      credentialsSecretName: this.credentialsSecret?.name,
      imagePullPolicy: props.imagePullPolicy,
      jobExcludedLabels: props.jobExcludedLabels,
      paused: props.paused,
    });

    if (props.networkPolicy?.enabled ?? true) {
      this.networkPolicy = new WorkerNetworkPolicy(this, 'NetworkPolicy', {
        name: appName,
        namespace: this.namespaceName,
        labels: labels('worker'),
        podSelector: podLabels,
        extraEgressTcpPorts: props.networkPolicy?.extraEgressTcpPorts,
        dns: props.networkPolicy?.dns,
      });
    }

    if (nodes) {
      [this.nodeClass, this.nodePool] = this.createNodeCapacity(nodes, poolName, labels('node-capacity'), appName);
      this.checkPoolFitsReplicas(props.scaling.maxReplicaCount, nodes);
    }
  }

  /** The Karpenter EC2NodeClass and NodePool for the job pods. */
  private createNodeCapacity(
    nodes: JobNodesOptions,
    poolName: string,
    labels: Record<string, string>,
    appName: string,
  ): [JobNodeClass, JobNodePool] {
    const nodeClass = new JobNodeClass(this, 'NodeClass', {
      name: poolName,
      labels,
      clusterName: nodes.clusterName,
      nodeRoleName: nodes.nodeRoleName,
      amiAlias: nodes.amiAlias,
      dataVolumeSize: nodes.dataVolumeSize,
      kmsKeyId: nodes.kmsKeyId,
      tags: nodes.tags,
    });
    const nodePool = new JobNodePool(this, 'NodePool', {
      name: poolName,
      labels,
      nodeClassName: nodeClass.name,
      taintValue: appName,
      // A node being drained waits for a running job's whole deadline plus its
      // shutdown grace before pods are deleted.
      drainGraceSecs: this.scaledJob.activeDeadlineSecs + this.scaledJob.terminationGraceSecs,
      cpuLimit: nodes.cpuLimit,
      memoryLimit: nodes.memoryLimit,
      architectures: nodes.architectures,
      instanceCategories: nodes.instanceCategories,
      minInstanceGeneration: nodes.minInstanceGeneration,
      maxInstanceCpu: nodes.maxInstanceCpu,
      consolidateAfter: nodes.consolidateAfter,
      expireAfter: nodes.expireAfter,
    });
    return [nodeClass, nodePool];
  }

  /**
   * Fails synth when the node pool's limits cannot hold maxReplicaCount job
   * pods' requests: KEDA would create Jobs whose pods stay Pending forever.
   * Skipped for values that are not literal quantities (deploy-time tokens).
   */
  private checkPoolFitsReplicas(replicas: number, nodes: JobNodesOptions): void {
    const res = this.scaledJob.resources;
    const pairs: [string, string, string][] = [
      ['cpu', res.cpuRequest, nodes.cpuLimit],
      ['memory', res.memoryRequest, nodes.memoryLimit],
    ];
    for (const [what, request, limit] of pairs) {
      const perPod = parseQuantity(request);
      const total = parseQuantity(limit);
      if (perPod !== undefined && total !== undefined && perPod * replicas > total) {
        throw new Error(
          `nodes.${what}Limit (${limit}) cannot hold scaling.maxReplicaCount (${replicas}) pods ` +
            `requesting ${request} ${what} each; raise the limit or lower maxReplicaCount`,
        );
      }
    }
  }
}
