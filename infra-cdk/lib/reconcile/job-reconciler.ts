/**
 * The reconciler: the `reconciler` Rust Lambda, invoked by an EventBridge Scheduler
 * `rate()` schedule, that sends stale open jobs again and resolves the job DLQ
 * (job-core's `application::reconcile`). Its grants are the grant table's reconciler rows.
 */
import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { RustFunction } from '../api/rust-function';
import { grantFromTable, tableResources } from '../grants';

/** The sparse index of open jobs (job-core's `OPEN_JOBS_INDEX`). */
export const OPEN_JOBS_INDEX = 'open-jobs';


/** Props of {@link JobReconciler}. */
export interface JobReconcilerProps {
  /** Directory holding `reconciler/bootstrap.zip`. */
  readonly bundleDir: string;
  /** The shared JOBS_* environment (JOBS_DLQ_URL is added). */
  readonly environment: Record<string, string>;
  readonly table: dynamodb.ITable;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** ARN pattern of the project's schedules, whose missed runs a pass counts. */
  readonly schedulePattern: string;
  /** How often a pass runs. @default 1 minute */
  readonly rate?: Duration;
  /** Log retention. @default one month */
  readonly logRetention?: logs.RetentionDays;
}

export class JobReconciler extends Construct {
  public readonly function: RustFunction;
  /** The role Scheduler assumes to invoke the function. */
  public readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: JobReconcilerProps) {
    super(scope, id);
    const rate = props.rate ?? Duration.minutes(1);
    this.function = new RustFunction(this, 'Function', {
      binary: 'reconciler',
      bundleDir: props.bundleDir,
      environment: { ...props.environment, JOBS_DLQ_URL: props.deadLetterQueue.queueUrl },
      description: `Reconciler: stale open jobs sent again, the job DLQ resolved; every ${rate.toHumanString()}`,
      // A pass handles at most 500 jobs and 500 dead letters, each call bounded by its timeouts.
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
    });
    // What a pass calls (settings/grants.json); the schedules it reads are the stack's.
    grantFromTable(this.function.role, 'reconciler', {
      ...tableResources(props.table.tableArn, [OPEN_JOBS_INDEX]),
      queue: props.queue.queueArn,
      'dead-letter-queue': props.deadLetterQueue.queueArn,
      schedules: props.schedulePattern,
    });

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'Assumed by EventBridge Scheduler to invoke the reconciler',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.function.function.env.account } },
      }),
    });
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.function.function.functionArn] }),
    );
    // In the default group: the project's own group holds the users' schedules, which the API lists.
    new scheduler.CfnSchedule(this, 'Schedule', {
      description: 'Runs the job reconciler',
      scheduleExpression: `rate(${rate.toMinutes()} ${rate.toMinutes() === 1 ? 'minute' : 'minutes'})`,
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.function.function.functionArn,
        roleArn: this.schedulerRole.roleArn,
        input: '{}',
        // A missed pass is made up by the next one.
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
      },
    });
  }
}
