/**
 * KEDA ScaledJob that drains the jobs queue: one Kubernetes Job, one pod, one
 * SQS message. The scaling strategy, the Job's retry and deadline settings and
 * the pod's shutdown timing all follow from how the `data-processor` worker
 * holds its message (see the comments on each setting).
 */
import { Construct } from 'constructs';
import {
  ScaledJob,
  ScaledJobSpecJobTargetRefTemplateSpecContainersEnv as ContainerEnv,
  ScaledJobSpecJobTargetRefTemplateSpecContainersResourcesLimits as ResourceLimit,
  ScaledJobSpecJobTargetRefTemplateSpecContainersResourcesRequests as ResourceRequest,
  ScaledJobSpecJobTargetRefTemplateSpecVolumesEmptyDirSizeLimit as EmptyDirSizeLimit,
  ScaledJobSpecRolloutStrategy,
  ScaledJobSpecScalingStrategyStrategy,
  ScaledJobSpecTriggersAuthenticationRefKind,
} from '../imports/keda.sh';
import { ContainerImage, imageReference } from './image';
import {
  DEDICATED_TAINT_KEY,
  DO_NOT_DISRUPT_ANNOTATION,
  KARPENTER_NODEPOOL_LABEL,
  KEDA_JOB_EXCLUDED_LABELS_ANNOTATION,
  KEDA_PAUSED_ANNOTATION,
  MANAGED_BY_LABEL,
} from './labels';
import { ACCESS_KEY_ID_KEY, SECRET_ACCESS_KEY_KEY } from './static-credentials';
import {
  jobActiveDeadlineSecs,
  podTerminationGraceSecs,
  requireInteger,
  requireNonEmpty,
  ResolvedWorkerSettings,
  workerEnvironment,
} from './worker-settings';

/** Numeric user and group the worker runs as (the distroless "nonroot" ids). */
export const WORKER_UID = 65532;

/** Name of the worker container. */
export const WORKER_CONTAINER_NAME = 'data-processor';

/** CPU and memory of the worker container. */
export interface WorkerResources {
  /** CPU request. @default '250m' */
  readonly cpuRequest?: string;
  /** Memory request. @default '256Mi' */
  readonly memoryRequest?: string;
  /** CPU limit. @default '1' */
  readonly cpuLimit?: string;
  /** Memory limit; the worker is OOM-killed above it. @default '512Mi' */
  readonly memoryLimit?: string;
}

/** {@link WorkerResources} with defaults applied. */
export type ResolvedWorkerResources = Required<WorkerResources>;

/** Default container resources. */
export const RESOURCE_DEFAULTS: ResolvedWorkerResources = {
  cpuRequest: '250m',
  memoryRequest: '256Mi',
  cpuLimit: '1',
  memoryLimit: '512Mi',
};

/** How KEDA polls the queue and how many Jobs it keeps around. */
export interface ScalingOptions {
  /** Upper bound of Jobs running at once (one message each). */
  readonly maxReplicaCount: number;
  /** Seconds between two looks at the queue. @default 10 */
  readonly pollingIntervalSecs?: number;
  /** Finished Jobs KEDA keeps for inspection. @default 10 */
  readonly successfulJobsHistoryLimit?: number;
  /** Failed Jobs KEDA keeps for inspection. @default 20 */
  readonly failedJobsHistoryLimit?: number;
}

/** Settings of the Kubernetes Job object KEDA creates per message. */
export interface JobOptions {
  /**
   * Seconds the Job may spend outside the worker's attempts: waiting for a
   * node (Karpenter launch), pulling the image, the receive long poll and
   * recording the outcome. Added to the worker's worst case for
   * `activeDeadlineSeconds`.
   * @default 180
   */
  readonly startupAllowanceSecs?: number;
  /** Seconds a finished Job (and its pod, with logs) stays before deletion. @default 3600 */
  readonly ttlSecondsAfterFinished?: number;
}

/** Props of {@link WorkerScaledJob}. */
export interface WorkerScaledJobProps {
  /** ScaledJob name; KEDA names the Jobs after it. */
  readonly name: string;
  /** Namespace. */
  readonly namespace: string;
  /** Ownership labels of the ScaledJob (KEDA copies them to its Jobs). */
  readonly labels: Record<string, string>;
  /** Labels of the job pods. */
  readonly podLabels: Record<string, string>;
  /** SQS queue URL: the trigger watches it and the worker reads it. */
  readonly queueUrl: string;
  /** DynamoDB table of job state. */
  readonly tableName: string;
  /** AWS region of the queue and table. */
  readonly region: string;
  /** Worker image. */
  readonly image: ContainerImage;
  /** Worker tunables, already resolved. */
  readonly worker: ResolvedWorkerSettings;
  /** Extra container environment; may not redefine a contract variable. */
  readonly extraEnv?: Record<string, string>;
  /** Container resources. */
  readonly resources?: WorkerResources;
  /** Scaling settings. */
  readonly scaling: ScalingOptions;
  /** Job settings. */
  readonly job?: JobOptions;
  /** ServiceAccount of the job pods. */
  readonly serviceAccountName: string;
  /** TriggerAuthentication the SQS trigger uses. */
  readonly triggerAuthenticationName: string;
  /**
   * NodePool the job pods must run on (node selector), with the value of the
   * dedicated-node taint they tolerate. Unset: the pods run on any Linux node
   * (a cluster without Karpenter, such as kind).
   */
  readonly dedicatedNodes?: { readonly nodePoolName: string; readonly taintValue: string };
  /**
   * AWS endpoint for every call, outside AWS (LocalStack): the worker's
   * `AWS_ENDPOINT_URL` and the trigger's `awsEndpoint`. @default AWS itself
   */
  readonly awsEndpointUrl?: string;
  /**
   * Secret with static keys for the worker (environment from the Secret).
   * @default none: pod identity
   */
  readonly credentialsSecretName?: string;
  /** Pull policy of the worker image. @default 'IfNotPresent' */
  readonly imagePullPolicy?: ImagePullPolicy;
  /**
   * More ScaledJob label keys KEDA must not copy onto its Jobs, e.g. the label
   * a `kubectl apply --prune -l` deployment selects by: a Job that carried it
   * would be deleted (its pod killed) by the next apply. `managed-by` is always
   * excluded, so Jobs keep KEDA's own `keda-operator`.
   * @default none
   */
  readonly jobExcludedLabels?: string[];
  /**
   * Whether KEDA is paused for this ScaledJob (creates no Jobs; messages wait
   * in the queue), e.g. until the image the template names has been pushed.
   * @default false
   */
  readonly paused?: boolean;
}

/** ScaledJob label keys KEDA never copies onto Jobs, whatever the props say. */
export const ALWAYS_EXCLUDED_JOB_LABELS = [MANAGED_BY_LABEL];

/** When the kubelet pulls the worker image. */
export type ImagePullPolicy = 'IfNotPresent' | 'Always' | 'Never';

/** The ScaledJob, with its derived timings exposed for checks and docs. */
export class WorkerScaledJob extends Construct {
  /** The ScaledJob API object. */
  public readonly apiObject: ScaledJob;
  /** The Job's `activeDeadlineSeconds`. */
  public readonly activeDeadlineSecs: number;
  /** The pod's `terminationGracePeriodSeconds`. */
  public readonly terminationGraceSecs: number;
  /** Resources after defaults. */
  public readonly resources: ResolvedWorkerResources;

  constructor(scope: Construct, id: string, props: WorkerScaledJobProps) {
    super(scope, id);
    const scaling: Required<ScalingOptions> = {
      maxReplicaCount: props.scaling.maxReplicaCount,
      pollingIntervalSecs: props.scaling.pollingIntervalSecs ?? 10,
      successfulJobsHistoryLimit: props.scaling.successfulJobsHistoryLimit ?? 10,
      failedJobsHistoryLimit: props.scaling.failedJobsHistoryLimit ?? 20,
    };
    requireInteger('scaling.maxReplicaCount', scaling.maxReplicaCount, 1);
    requireInteger('scaling.pollingIntervalSecs', scaling.pollingIntervalSecs, 1);
    requireInteger('scaling.successfulJobsHistoryLimit', scaling.successfulJobsHistoryLimit, 0);
    requireInteger('scaling.failedJobsHistoryLimit', scaling.failedJobsHistoryLimit, 0);
    const job: Required<JobOptions> = {
      startupAllowanceSecs: props.job?.startupAllowanceSecs ?? 180,
      ttlSecondsAfterFinished: props.job?.ttlSecondsAfterFinished ?? 3600,
    };
    requireInteger('job.startupAllowanceSecs', job.startupAllowanceSecs, 0);
    requireInteger('job.ttlSecondsAfterFinished', job.ttlSecondsAfterFinished, 0);
    requireNonEmpty('serviceAccountName', props.serviceAccountName);
    const resources = props.resources ?? {};
    this.resources = {
      cpuRequest: resources.cpuRequest ?? RESOURCE_DEFAULTS.cpuRequest,
      memoryRequest: resources.memoryRequest ?? RESOURCE_DEFAULTS.memoryRequest,
      cpuLimit: resources.cpuLimit ?? RESOURCE_DEFAULTS.cpuLimit,
      memoryLimit: resources.memoryLimit ?? RESOURCE_DEFAULTS.memoryLimit,
    };

    this.activeDeadlineSecs = jobActiveDeadlineSecs(props.worker, job.startupAllowanceSecs);
    this.terminationGraceSecs = podTerminationGraceSecs(props.worker);
    const env: ContainerEnv[] = workerEnvironment(
      { queueUrl: props.queueUrl, tableName: props.tableName, region: props.region, extraEnv: props.extraEnv },
      props.worker,
    );
    const reserved = (name: string, why: string) => {
      if (env.some((e) => e.name === name)) {
        throw new Error(`extraEnv may not set ${name}; ${why}`);
      }
    };
    if (props.awsEndpointUrl !== undefined) {
      requireNonEmpty('awsEndpointUrl', props.awsEndpointUrl);
      reserved('AWS_ENDPOINT_URL', 'awsEndpointUrl sets it');
      env.push({ name: 'AWS_ENDPOINT_URL', value: props.awsEndpointUrl });
    }
    if (props.credentialsSecretName !== undefined) {
      for (const key of [ACCESS_KEY_ID_KEY, SECRET_ACCESS_KEY_KEY]) {
        reserved(key, 'staticCredentials sets it');
        env.push({ name: key, valueFrom: { secretKeyRef: { name: props.credentialsSecretName, key } } });
      }
    }
    const dedicated = props.dedicatedNodes;
    const excluded = [...ALWAYS_EXCLUDED_JOB_LABELS];
    for (const key of props.jobExcludedLabels ?? []) {
      requireNonEmpty('jobExcludedLabels[]', key);
      if (key.includes(',')) {
        throw new Error(`jobExcludedLabels: '${key}' is not a label key (KEDA splits the list at commas)`);
      }
      if (!excluded.includes(key)) excluded.push(key);
    }
    const annotations: Record<string, string> = { [KEDA_JOB_EXCLUDED_LABELS_ANNOTATION]: excluded.join(',') };
    if (props.paused) {
      annotations[KEDA_PAUSED_ANNOTATION] = 'true';
    }

    this.apiObject = new ScaledJob(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels, annotations },
      spec: {
        pollingInterval: scaling.pollingIntervalSecs,
        minReplicaCount: 0,
        maxReplicaCount: scaling.maxReplicaCount,
        successfulJobsHistoryLimit: scaling.successfulJobsHistoryLimit,
        failedJobsHistoryLimit: scaling.failedJobsHistoryLimit,
        // A change to the ScaledJob (a new image, say) must not kill Jobs that
        // hold a message: `gradual` leaves running Jobs alone and only new Jobs
        // use the new template.
        rollout: { strategy: ScaledJobSpecRolloutStrategy.GRADUAL },
        // Scaling strategy: `accurate`, with the trigger's queue length counting
        // only *visible* messages (scaleOnInFlight "false" below).
        //
        // Each pod receives ONE message and keeps it invisible (heartbeat) for
        // the whole job, retry delays included, deleting it only once the final
        // state is recorded. So every in-flight message is already owned by a
        // running Job, and only visible messages are work without an owner.
        // `accurate` is KEDA's strategy for exactly that kind of count (a queue
        // length that excludes locked messages): it creates
        // `visible - pending` new Jobs (pending = Jobs whose pod has not started
        // and so has not taken its message yet), capped at
        // `maxReplicaCount - running`. The `default` strategy instead subtracts
        // *all* running Jobs from the count, which only adds up when the count
        // includes in-flight messages; it would under-scale here (3 new
        // messages while 5 Jobs run: 3 - 5 => no new Job).
        //
        // Counting visible messages only also means a crashed pod's message
        // (invisible until its last heartbeat's window lapses) starts a new Job
        // only once it can actually be received, instead of starting a pod that
        // finds nothing.
        scalingStrategy: { strategy: ScaledJobSpecScalingStrategyStrategy.ACCURATE },
        triggers: [
          {
            type: 'aws-sqs-queue',
            name: 'jobs-queue',
            authenticationRef: {
              name: props.triggerAuthenticationName,
              kind: ScaledJobSpecTriggersAuthenticationRefKind.TRIGGER_AUTHENTICATION,
            },
            metadata: {
              queueURL: props.queueUrl,
              awsRegion: props.region,
              // One message per Job.
              ...(props.awsEndpointUrl !== undefined ? { awsEndpoint: props.awsEndpointUrl } : {}),
              queueLength: '1',
              activationQueueLength: '0',
              // In-flight messages belong to running Jobs (see scalingStrategy).
              scaleOnInFlight: 'false',
              // The API never sends delayed messages; retries happen in the worker.
              scaleOnDelayed: 'false',
            },
          },
        ],
        jobTargetRef: {
          parallelism: 1,
          completions: 1,
          // No Job-level retries. The worker retries a failing task itself
          // (JOBS_MAX_ATTEMPTS, with backoff) and records every attempt; it
          // exits non-zero only on an infrastructure failure (crash, AWS
          // unreachable), and a pod can also die from an OOM kill or a lost
          // node. In all these cases the message is still in SQS and becomes
          // visible again once the heartbeat stops, and KEDA starts a fresh Job
          // for it that continues with the next attempt number. A Job-level
          // retry would only duplicate that path (and might receive a different
          // message); with 0 the failure stays visible as a failed Job.
          backoffLimit: 0,
          // Every attempt at its timeout + every retry delay at its maximum +
          // the startup allowance; see jobActiveDeadlineSecs.
          activeDeadlineSeconds: this.activeDeadlineSecs,
          ttlSecondsAfterFinished: job.ttlSecondsAfterFinished,
          template: {
            metadata: {
              labels: props.podLabels,
              annotations: {
                // A running job holds a message and an attempt; Karpenter must
                // not consolidate its node away underneath it.
                [DO_NOT_DISRUPT_ANNOTATION]: 'true',
              },
            },
            spec: {
              restartPolicy: 'Never',
              serviceAccountName: props.serviceAccountName,
              // The worker never calls the Kubernetes API; pod identity injects
              // its own projected token, independent of this setting.
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              // The worker's shutdown grace plus a margin, so SIGKILL never cuts
              // the "finish the attempt or release the message" step short.
              terminationGracePeriodSeconds: this.terminationGraceSecs,
              nodeSelector: {
                ...(dedicated ? { [KARPENTER_NODEPOOL_LABEL]: dedicated.nodePoolName } : {}),
                'kubernetes.io/os': 'linux',
              },
              tolerations: dedicated
                ? [{ key: DEDICATED_TAINT_KEY, operator: 'Equal', value: dedicated.taintValue, effect: 'NoSchedule' }]
                : undefined,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: WORKER_UID,
                runAsGroup: WORKER_UID,
                fsGroup: WORKER_UID,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [
                {
                  name: WORKER_CONTAINER_NAME,
                  image: imageReference(props.image),
                  // Tags are immutable (or a digest is used), so a cached image
                  // is the right image; skips a registry round trip per job.
                  imagePullPolicy: props.imagePullPolicy ?? 'IfNotPresent',
                  args: ['--once'],
                  env,
                  resources: {
                    requests: {
                      cpu: ResourceRequest.fromString(this.resources.cpuRequest),
                      memory: ResourceRequest.fromString(this.resources.memoryRequest),
                    },
                    limits: {
                      cpu: ResourceLimit.fromString(this.resources.cpuLimit),
                      memory: ResourceLimit.fromString(this.resources.memoryLimit),
                    },
                  },
                  securityContext: {
                    runAsNonRoot: true,
                    runAsUser: WORKER_UID,
                    runAsGroup: WORKER_UID,
                    readOnlyRootFilesystem: true,
                    allowPrivilegeEscalation: false,
                    privileged: false,
                    capabilities: { drop: ['ALL'] },
                    seccompProfile: { type: 'RuntimeDefault' },
                  },
                  // The root filesystem is read-only; give the process a small
                  // scratch directory in case a library wants a temp file.
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                },
              ],
              volumes: [{ name: 'tmp', emptyDir: { sizeLimit: EmptyDirSizeLimit.fromString('64Mi') } }],
            },
          },
        },
      },
    });
  }
}

