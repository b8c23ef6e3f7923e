/**
 * The whole system in one stack: data (table, queues), API (HTTP API and one
 * Rust Lambda per route group), Scheduler, the reconciler (a Lambda on a schedule), the
 * counter aggregator (a Lambda on the table's stream), the worker image repository, the
 * EKS cluster with KEDA, Karpenter and the job workers, and the dashboard with
 * its alarms. Env-agnostic: no lookups, no account or region in the template.
 */
import { CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { resolveWorkerSettings } from 'jobs-cdk8s';
import { ApiAuthorization, JobApi } from './api/job-api';
import { RustFunction } from './api/rust-function';
import { JobCluster } from './cluster/job-cluster';
import { JobWorkers } from './cluster/job-workers';
import { Karpenter } from './cluster/karpenter';
import { Keda } from './cluster/keda';
import { JobQueues } from './data/job-queues';
import { JobTable } from './data/job-table';
import { WorkerRepository } from './images/worker-repository';
import { acknowledgeFindings } from './nag-acknowledgments';
import { JobDashboard } from './observability/job-dashboard';
import { JobMetrics } from './observability/job-metrics';
import { MissedRunsAlarm } from './observability/missed-runs';
import { loadQueueSettings } from './queue-settings';
import { JobReconciler } from './reconcile/job-reconciler';
import { JobScheduler } from './scheduling/job-scheduler';
import { CounterAggregator } from './stats/counter-aggregator';

/** Item actions of the jobs-api Lambda (job-core's DynamoDB store, as `POST /jobs` and `GET /jobs/{id}` use it). */
export const JOBS_API_TABLE_ACTIONS = [
  // GET /jobs/{id}, the idempotency-key lookup, and reading a job to cancel or re-run it.
  'dynamodb:GetItem',
  // Registration is a TransactWriteItems of a Put (the job) and two Updates (counters);
  // withdrawing it (the message was certainly not sent) is a Delete and the same Updates;
  // a replay marks the job with a PutItem before sending its message again. A cancel is a
  // conditional Put (a running job marked) or the same transaction (CANCELLED and its
  // counters); a re-run is a registration and a conditional Put linking the source.
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
];
/** GET /jobs queries the listing indexes (one Query per shard), never a scan. */
export const JOBS_API_INDEX_ACTIONS = ['dynamodb:Query'];
/** GET /jobs/stats reads counter items with BatchGetItem, never a scan. */
export const STATS_API_TABLE_ACTIONS = ['dynamodb:BatchGetItem'];
/** The schedules routes' Scheduler calls (job-core/src/schedules/eventbridge.rs); PATCH reads, then updates. */
export const SCHEDULES_API_SCHEDULE_ACTIONS = [
  'scheduler:CreateSchedule',
  'scheduler:GetSchedule',
  'scheduler:UpdateSchedule',
  'scheduler:DeleteSchedule',
];
/**
 * The schedules routes' table calls: a schedule's change log is read (GetItem) and appended
 * to (UpdateItem), and its history reads the runs' jobs in one BatchGetItem.
 */
export const SCHEDULES_API_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:BatchGetItem'];
/**
 * What schedules-api writes whole, and only on schedule items (`SCHEDULE#…`): a schedule's
 * change lease (put, then deleted), and its run pointer when a PATCH turns `forbid` or
 * `replace` on.
 */
export const SCHEDULES_API_SCHEDULE_ITEM_ACTIONS = ['dynamodb:PutItem', 'dynamodb:DeleteItem'];
/** The partition keys of schedule items. */
export const SCHEDULE_KEY_PATTERN = 'SCHEDULE#*';
/** What the reconciler's missed-runs count reads: the schedules, and each one's runs' jobs (BatchGetItem). */
export const RECONCILER_SCHEDULE_ACTIONS = ['scheduler:GetSchedule'];

/** Props of {@link JobsStack}. */
export interface JobsStackProps extends StackProps {
  /** Directory with `<binary>/bootstrap.zip` from `make lambdas`. */
  readonly lambdaDir: string;
  /** Tag of the data-processor image in the stack's repository. */
  readonly imageTag: string;
  /** API authorization. @default IAM */
  readonly apiAuthorization?: ApiAuthorization;
  /** @default 50 requests/s, burst 100 */
  readonly apiThrottleRateLimit?: number;
  readonly apiThrottleBurstLimit?: number;
  /** Table deletion protection. @default true */
  readonly tableDeletionProtection?: boolean;
  /** Table removal policy. @default RETAIN */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /** Point-in-time recovery. @default true */
  readonly pointInTimeRecovery?: boolean;
  /** Role ARN given cluster-admin through an access entry. @default none */
  readonly clusterAdminRoleArn?: string;
  /** CIDRs allowed to the public cluster endpoint. @default any */
  readonly clusterPublicEndpointCidrs?: string[];
  /** NAT gateways. @default 1 */
  readonly natGateways?: number;
  /** Most job pods at once (KEDA maxReplicaCount). @default 20 */
  readonly maxWorkers?: number;
  /** Karpenter job pool limits. @default '32' CPUs, '64Gi' */
  readonly workerNodeCpuLimit?: string;
  readonly workerNodeMemoryLimit?: string;
  /** Alarm notifications. @default none */
  readonly alarmTopicArn?: string;
  /** Log retention of every log group. @default one month */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Where the job counters are booked (`JOBS_COUNTERS`): `stream`, by the counter
   * aggregator from the table's stream (a job change is one conditional write; for high
   * rates); `inline`, in each job change's transaction (no stream, no aggregator; tens of
   * jobs per second). @default 'stream'
   */
  readonly counting?: 'stream' | 'inline';
  /**
   * How long after its time a scheduled run may get its job before its history flags it
   * `missed` and the missed-runs alarm counts it (`JOBS_MISSED_RUN_GRACE_SECS`, 60 to
   * 86400). @default 900 (the code's default)
   */
  readonly missedRunGraceSecs?: number;
}

export class JobsStack extends Stack {
  constructor(scope: Construct, id: string, props: JobsStackProps) {
    super(scope, id, props);
    const settings = loadQueueSettings();
    const counting = props.counting ?? 'stream';
    const worker = resolveWorkerSettings({ visibilityTimeoutSecs: settings.visibilityTimeoutSecs, counting });
    const clusterName = this.stackName;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    // Data
    const table = new JobTable(this, 'Jobs', {
      settings,
      deletionProtection: props.tableDeletionProtection,
      removalPolicy: props.tableRemovalPolicy,
      pointInTimeRecovery: props.pointInTimeRecovery,
      stream: counting === 'stream',
    }).table;
    const queues = new JobQueues(this, 'Queues', { settings });
    const scheduler = new JobScheduler(this, 'Scheduler', {
      groupName: this.stackName,
      queue: queues.queue,
      deadLetterQueue: queues.scheduleDeadLetterQueue,
    });

    // API
    const environment: Record<string, string> = {
      JOBS_QUEUE_URL: queues.queue.queueUrl,
      JOBS_QUEUE_ARN: queues.queue.queueArn,
      JOBS_TABLE_NAME: table.tableName,
      JOBS_SCHEDULE_GROUP: scheduler.groupName,
      JOBS_SCHEDULER_ROLE_ARN: scheduler.role.roleArn,
      JOBS_SCHEDULE_DLQ_ARN: queues.scheduleDeadLetterQueue.queueArn,
      JOBS_MAX_ATTEMPTS: String(worker.maxAttempts),
      JOBS_VISIBILITY_TIMEOUT_SECS: String(worker.visibilityTimeoutSecs),
      // Short AWS call deadlines, so a submission finishes (or fails cleanly) well within
      // the function timeout even when DynamoDB or SQS hang.
      JOBS_AWS_ATTEMPT_TIMEOUT_SECS: '2',
      JOBS_AWS_OPERATION_TIMEOUT_SECS: '4',
      JOBS_COUNTERS: counting,
      RUST_LOG: worker.rustLog,
    };
    if (props.missedRunGraceSecs !== undefined) {
      const grace = props.missedRunGraceSecs;
      if (!Number.isInteger(grace) || grace < 60 || grace > 86_400) {
        throw new Error(`missedRunGraceSecs must be a whole number of seconds from 60 to 86400, got ${grace}`);
      }
      environment.JOBS_MISSED_RUN_GRACE_SECS = String(grace);
    }
    const fn = (fnId: string, binary: string, description: string) =>
      new RustFunction(this, fnId, { binary, bundleDir: props.lambdaDir, environment, description, logRetention });
    const jobsApi = fn('JobsApi', 'jobs-api', 'POST and GET /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel and /rerun, GET /openapi.json');
    const statsApi = fn('StatsApi', 'stats-api', 'GET /jobs/stats');
    const schedulesApi = fn(
      'SchedulesApi',
      'schedules-api',
      'POST /jobs/schedule, GET /jobs/schedules, GET, PATCH and DELETE /jobs/schedules/{name}',
    );

    jobsApi.function.addToRolePolicy(new iam.PolicyStatement({ actions: JOBS_API_TABLE_ACTIONS, resources: [table.tableArn] }));
    jobsApi.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queues.queue.queueArn] }));
    const listing = settings.table.listingIndexes;
    jobsApi.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: JOBS_API_INDEX_ACTIONS,
        resources: [listing.byTime.name, listing.byStatus.name].map((name) => `${table.tableArn}/index/${name}`),
      }),
    );
    statsApi.function.addToRolePolicy(new iam.PolicyStatement({ actions: STATS_API_TABLE_ACTIONS, resources: [table.tableArn] }));
    schedulesApi.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: SCHEDULES_API_SCHEDULE_ACTIONS, resources: [scheduler.scheduleArnPattern] }),
    );
    schedulesApi.function.addToRolePolicy(new iam.PolicyStatement({ actions: SCHEDULES_API_TABLE_ACTIONS, resources: [table.tableArn] }));
    schedulesApi.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: SCHEDULES_API_SCHEDULE_ITEM_ACTIONS,
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [SCHEDULE_KEY_PATTERN] } },
      }),
    );
    schedulesApi.function.addToRolePolicy(
      // ListSchedules supports no resource-level permissions: "*" is the only resource IAM
      // accepts. The code lists with the group's name as filter.
      new iam.PolicyStatement({ actions: ['scheduler:ListSchedules'], resources: ['*'] }),
    );
    schedulesApi.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [scheduler.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );

    // Every job reaches a terminal state: stale jobs sent again, the job DLQ resolved.
    const reconciler = new JobReconciler(this, 'Reconciler', {
      bundleDir: props.lambdaDir,
      environment,
      table,
      queue: queues.queue,
      deadLetterQueue: queues.deadLetterQueue,
      logRetention,
    });
    // Each pass also counts the schedules' missed runs (the MissedRuns alarm below).
    const reconcilerRole = reconciler.function.role;
    reconcilerRole.addToPolicy(new iam.PolicyStatement({ actions: RECONCILER_SCHEDULE_ACTIONS, resources: [scheduler.scheduleArnPattern] }));
    reconcilerRole.addToPolicy(new iam.PolicyStatement({ actions: ['scheduler:ListSchedules'], resources: ['*'] }));
    reconcilerRole.addToPolicy(new iam.PolicyStatement({ actions: ['dynamodb:BatchGetItem'], resources: [table.tableArn] }));

    // Counting from the stream: the counters follow the job items within about a second.
    const aggregator =
      counting === 'stream'
        ? new CounterAggregator(this, 'CounterAggregator', {
            bundleDir: props.lambdaDir,
            environment,
            table,
            alarmTopicArn: props.alarmTopicArn,
            logRetention,
          })
        : undefined;

    const { GET, POST, PATCH, DELETE } = apigwv2.HttpMethod;
    const api = new JobApi(this, 'Api', {
      authorization: props.apiAuthorization,
      throttleRateLimit: props.apiThrottleRateLimit,
      throttleBurstLimit: props.apiThrottleBurstLimit,
      logRetention,
      routes: [
        { method: POST, path: '/jobs', handler: jobsApi.function },
        { method: GET, path: '/jobs', handler: jobsApi.function },
        { method: GET, path: '/jobs/{id}', handler: jobsApi.function },
        { method: POST, path: '/jobs/{id}/cancel', handler: jobsApi.function },
        { method: POST, path: '/jobs/{id}/rerun', handler: jobsApi.function },
        { method: GET, path: '/openapi.json', handler: jobsApi.function },
        { method: GET, path: '/', handler: jobsApi.function, page: true },
        { method: GET, path: '/console.css', handler: jobsApi.function, page: true },
        { method: GET, path: '/console.js', handler: jobsApi.function, page: true },
        { method: GET, path: '/jobs/stats', handler: statsApi.function },
        { method: POST, path: '/jobs/schedule', handler: schedulesApi.function },
        { method: GET, path: '/jobs/schedules', handler: schedulesApi.function },
        { method: GET, path: '/jobs/schedules/{name}', handler: schedulesApi.function },
        { method: PATCH, path: '/jobs/schedules/{name}', handler: schedulesApi.function },
        { method: DELETE, path: '/jobs/schedules/{name}', handler: schedulesApi.function },
      ],
    });

    // Images and cluster
    const repository = new WorkerRepository(this, 'WorkerImages').repository;
    const cluster = new JobCluster(this, 'Cluster', {
      clusterName,
      natGateways: props.natGateways,
      adminRoleArn: props.clusterAdminRoleArn,
      publicEndpointCidrs: props.clusterPublicEndpointCidrs,
      logRetention,
    });
    const common = {
      cluster: cluster.cluster,
      clusterName,
      podIdentityAgent: cluster.podIdentityAgent,
      systemNodes: cluster.systemNodes,
    };
    const karpenter = new Karpenter(this, 'Karpenter', common);
    const keda = new Keda(this, 'Keda', { ...common, queue: queues.queue });
    const maxWorkers = props.maxWorkers ?? 20;
    new JobWorkers(this, 'Workers', {
      cluster: cluster.cluster,
      clusterName,
      queue: queues.queue,
      table,
      repository,
      imageTag: props.imageTag,
      nodeRole: karpenter.nodeRole,
      worker,
      scaling: { maxReplicaCount: maxWorkers },
      nodeCpuLimit: props.workerNodeCpuLimit ?? '32',
      nodeMemoryLimit: props.workerNodeMemoryLimit ?? '64Gi',
      dependsOn: [karpenter.chart, keda.chart],
    });

    // Observability
    const metrics = new JobMetrics(this, 'Metrics', {
      jobsApiLogs: jobsApi.logGroup,
      workerLogs: cluster.applicationLogGroup,
      lambdaLogs: { 'jobs-api': jobsApi.logGroup, 'stats-api': statsApi.logGroup, 'schedules-api': schedulesApi.logGroup },
    });
    const dashboard = new JobDashboard(this, 'Monitoring', {
      queue: queues.queue,
      deadLetterQueue: queues.deadLetterQueue,
      scheduleDeadLetterQueue: queues.scheduleDeadLetterQueue,
      httpApi: api.httpApi,
      functions: {
        'jobs-api': jobsApi.function,
        'stats-api': statsApi.function,
        'schedules-api': schedulesApi.function,
        ...(aggregator ? { 'counter-aggregator': aggregator.function.function } : {}),
      },
      metrics,
      alarmTopicArn: props.alarmTopicArn,
    });
    new MissedRunsAlarm(this, 'MissedRuns', { reconcilerLogs: reconciler.function.logGroup, alarmTopicArn: props.alarmTopicArn });

    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'Base URL of the job API (SigV4, service execute-api)' });
    new CfnOutput(this, 'QueueUrl', { value: queues.queue.queueUrl });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'ClusterName', { value: cluster.cluster.clusterName });
    new CfnOutput(this, 'RepositoryUri', { value: repository.repositoryUri, description: 'Push the data-processor image here' });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards/dashboard/${dashboard.dashboard.dashboardName}`,
    });
    new CfnOutput(this, 'KubeconfigCommand', {
      value: `aws eks update-kubeconfig --name ${clusterName} --region ${this.region}`,
    });

    acknowledgeFindings(this);
  }
}
