/**
 * The whole system in one stack: data (table, queues), API (HTTP API and one
 * Rust Lambda per route group), Scheduler, the reconciler (a Lambda on a schedule), the
 * counter aggregator (a Lambda on the table's stream), the worker image repository, the
 * EKS cluster with KEDA, Karpenter and the job workers, and the dashboard with
 * its alarms. Env-agnostic: no lookups, no account or region in the template.
 */
import { CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { resolveWorkerSettings } from 'jobs-cdk8s';
import { callerEnvironment } from './api/caller-environment';
import { ApiAuthorization, JobApi } from './api/job-api';
import { RustFunction } from './api/rust-function';
import { JobCluster } from './cluster/job-cluster';
import { JobWorkers } from './cluster/job-workers';
import { Karpenter } from './cluster/karpenter';
import { Keda } from './cluster/keda';
import { JobQueues } from './data/job-queues';
import { JobTable } from './data/job-table';
import { WorkerRepository } from './images/worker-repository';
import { acknowledgeFindings, acknowledgePublicRoutes } from './nag-acknowledgments';
import { JobDashboard } from './observability/job-dashboard';
import { JobMetrics } from './observability/job-metrics';
import { MissedRunsAlarm } from './observability/missed-runs';
import { allListingIndexes, loadQueueSettings } from './queue-settings';
import { loadPermissionSettings } from './permission-settings';
import { loadThrottleSettings } from './throttle-settings';
import { JobReconciler } from './reconcile/job-reconciler';
import { JobScheduler } from './scheduling/job-scheduler';
import { CounterAggregator } from './stats/counter-aggregator';
import { grantFromTable, tableResources } from './grants';

/** Props of {@link JobsStack}. */
export interface JobsStackProps extends StackProps {
  /** Directory with `<binary>/bootstrap.zip` from `make lambdas`. */
  readonly lambdaDir: string;
  /** Tag of the data-processor image in the stack's repository. */
  readonly imageTag: string;
  /**
   * API authorization; under JWT also the claims the API Lambdas read the caller from,
   * the scope renames and the admin scope and groups. @default IAM
   */
  readonly apiAuthorization?: ApiAuthorization;
  /**
   * Principal patterns of admins, under either authorization (`JOBS_ADMINS` of the API
   * Lambdas; `*` matches any run of characters, e.g. `arn:aws:sts::*:assumed-role/JobsAdmin/*`):
   * an admin may cancel, re-run and change what other callers own. @default none
   */
  readonly adminPrincipals?: string[];
  /**
   * The API stage's default rate and burst, for routes without their own; each route's
   * own comes from `settings/throttles.json`. @default that file's `stage` values
   */
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
  /** CIDRs allowed to the cluster's API endpoint from outside the VPC (this or {@link clusterEndpointPrivate} is required). */
  readonly clusterPublicEndpointCidrs?: string[];
  /** The cluster's API endpoint only inside the VPC. @default false */
  readonly clusterEndpointPrivate?: boolean;
  /** NAT gateways. @default 1 */
  readonly natGateways?: number;
  /**
   * Interface VPC endpoints in the cluster's VPC (SQS, ECR, STS, EKS Auth, EC2, SSM,
   * CloudWatch Logs, EKS): the cluster's AWS traffic stays in the VPC, for an hourly fee
   * per endpoint and AZ (see `VpcEndpointsProps.interfaceEndpoints`); off, it goes
   * through the NAT gateway. @default true
   */
  readonly vpcInterfaceEndpoints?: boolean;
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
  /**
   * Most schedules the deployment holds (`JOBS_MAX_SCHEDULES` of `schedules-api`, 1 to
   * 1000000); creating one more answers 409 `schedule_limit_reached`. @default 1000 (the code's default)
   */
  readonly maxSchedules?: number;
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
      counting,
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
    // The API Lambdas also learn how to find a request's caller and who is an admin.
    const permissions = loadPermissionSettings();
    const apiEnvironment: Record<string, string> = {
      ...environment,
      ...callerEnvironment({
        authorization: props.apiAuthorization ?? { type: 'iam' },
        scopes: permissions.scopes,
        adminPrincipals: props.adminPrincipals,
      }),
    };
    const fn = (fnId: string, binary: string, description: string) =>
      new RustFunction(this, fnId, { binary, bundleDir: props.lambdaDir, environment: apiEnvironment, description, logRetention });
    const jobsApi = fn('JobsApi', 'jobs-api', 'POST and GET /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel and /rerun, GET /openapi.json');
    const statsApi = fn('StatsApi', 'stats-api', 'GET /jobs/stats');
    const schedulesApi = fn(
      'SchedulesApi',
      'schedules-api',
      'POST /jobs/schedule, GET /jobs/schedules, GET, PATCH and DELETE /jobs/schedules/{name}',
    );
    if (props.maxSchedules !== undefined) {
      const most = props.maxSchedules;
      if (!Number.isInteger(most) || most < 1 || most > 1_000_000) {
        throw new Error(`maxSchedules must be a whole number from 1 to 1000000, got ${most}`);
      }
      schedulesApi.function.addEnvironment('JOBS_MAX_SCHEDULES', String(most));
    }

    // Each binary's grants: its rows of settings/grants.json, proven against its calls at the wire.
    const listingIndexNames = allListingIndexes(settings.table.listingIndexes).map((index) => index.name);
    const tableArns = tableResources(table.tableArn, listingIndexNames);
    grantFromTable(jobsApi.role, 'jobs-api', { ...tableArns, queue: queues.queue.queueArn });
    grantFromTable(statsApi.role, 'stats-api', tableArns);
    grantFromTable(schedulesApi.role, 'schedules-api', {
      ...tableArns,
      schedules: scheduler.scheduleArnPattern,
      'scheduler-role': scheduler.role.roleArn,
    });

    // Every job reaches a terminal state: stale jobs sent again, the job DLQ resolved.
    const reconciler = new JobReconciler(this, 'Reconciler', {
      bundleDir: props.lambdaDir,
      environment,
      table,
      queue: queues.queue,
      deadLetterQueue: queues.deadLetterQueue,
      // Each pass also counts the schedules' missed runs (the MissedRuns alarm below).
      schedulePattern: scheduler.scheduleArnPattern,
      logRetention,
    });

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
    const throttles = loadThrottleSettings();
    const api = new JobApi(this, 'Api', {
      authorization: props.apiAuthorization,
      permissions,
      throttleRateLimit: props.apiThrottleRateLimit ?? throttles.stage.rateLimit,
      throttleBurstLimit: props.apiThrottleBurstLimit ?? throttles.stage.burstLimit,
      routeThrottles: throttles.routes,
      logRetention,
      routes: [
        { method: POST, path: '/jobs', handler: jobsApi.function },
        { method: GET, path: '/jobs', handler: jobsApi.function },
        { method: GET, path: '/jobs/{id}', handler: jobsApi.function },
        { method: POST, path: '/jobs/{id}/cancel', handler: jobsApi.function },
        { method: POST, path: '/jobs/{id}/rerun', handler: jobsApi.function },
        { method: GET, path: '/openapi.json', handler: jobsApi.function },
        { method: GET, path: '/', handler: jobsApi.function },
        { method: GET, path: '/console.css', handler: jobsApi.function },
        { method: GET, path: '/console.js', handler: jobsApi.function },
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
      interfaceEndpoints: props.vpcInterfaceEndpoints,
      adminRoleArn: props.clusterAdminRoleArn,
      publicEndpointCidrs: props.clusterPublicEndpointCidrs,
      privateEndpoint: props.clusterEndpointPrivate,
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
    acknowledgePublicRoutes(api.openRoutes);
  }
}
