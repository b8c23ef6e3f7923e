/**
 * Job counts as CloudWatch metrics, from the JSON log lines the API and the
 * worker already write (tracing's JSON format: the event's fields under
 * `fields`). Lambda logs are the lines as written; container logs arrive
 * through the CloudWatch add-on's Fluent Bit, which parses a JSON line into
 * `log_processed`.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Namespace of the metrics. */
export const METRIC_NAMESPACE = 'JobsApi';

// The messages are job-core's `log_lines.rs` constants (test/log-lines.test.ts checks
// every filter against that file).
/**
 * The worker's line for every scheduled run it registers, QUEUED or SKIPPED (the
 * `submitted` counter counts both), with the outcome in `outcome`.
 */
export const SCHEDULED_REGISTERED_MESSAGE = 'scheduled job registered';
/** The API's line for every job it queues. */
export const JOB_QUEUED_MESSAGE = 'job queued';
/** The worker's line when an attempt starts, with its number in `attempt`. */
export const ATTEMPT_STARTED_MESSAGE = 'attempt started';
/** The worker's line when a job reaches its final state, with it in `status`. */
export const JOB_FINISHED_MESSAGE = 'job finished';
/** The worker's line when a job fails because its last attempt's worker was lost. */
export const LAST_ATTEMPT_LOST_MESSAGE = 'job failed: its last attempt was lost';
/** The `outcome` of a scheduled run recorded SKIPPED by its overlap policy. */
export const SKIPPED_OUTCOME = 'skipped';

/** Props of {@link JobMetrics}. */
export interface JobMetricsProps {
  /** The jobs-api Lambda's log group ("job queued"). */
  readonly jobsApiLogs: logs.ILogGroup;
  /** The container log group of the cluster (worker lines). */
  readonly workerLogs: logs.ILogGroup;
  /** The Lambda log groups, for cold starts. */
  readonly lambdaLogs: Record<string, logs.ILogGroup>;
}

export class JobMetrics extends Construct {
  public readonly submitted: cloudwatch.MathExpression;
  /** Scheduled runs recorded SKIPPED (overlap `forbid`, or superseded); part of {@link submitted}. */
  public readonly skipped: cloudwatch.Metric;
  public readonly succeeded: cloudwatch.Metric;
  public readonly failed: cloudwatch.Metric;
  public readonly retries: cloudwatch.Metric;
  public readonly coldStarts: Record<string, cloudwatch.Metric>;

  constructor(scope: Construct, id: string, props: JobMetricsProps) {
    super(scope, id);
    const filter = (filterId: string, logGroup: logs.ILogGroup, pattern: logs.IFilterPattern, metricName: string) => {
      new logs.MetricFilter(this, filterId, {
        logGroup,
        filterPattern: pattern,
        metricNamespace: METRIC_NAMESPACE,
        metricName,
        metricValue: '1',
        unit: cloudwatch.Unit.COUNT,
      });
      return new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName, statistic: 'Sum' });
    };
    const worker = (field: string) => `$.log_processed.fields.${field}`;

    const apiSubmitted = filter('ApiSubmitted', props.jobsApiLogs, logs.FilterPattern.literal(`{ $.fields.message = "${JOB_QUEUED_MESSAGE}" }`), 'JobsSubmittedApi');
    // Every registered run, skipped ones too, as the `submitted` counter counts them.
    const scheduledSubmitted = filter(
      'ScheduledSubmitted',
      props.workerLogs,
      logs.FilterPattern.literal(`{ ${worker('message')} = "${SCHEDULED_REGISTERED_MESSAGE}" }`),
      'JobsSubmittedScheduled',
    );
    this.skipped = filter(
      'ScheduledSkipped',
      props.workerLogs,
      logs.FilterPattern.literal(
        `{ ${worker('message')} = "${SCHEDULED_REGISTERED_MESSAGE}" && ${worker('outcome')} = "${SKIPPED_OUTCOME}" }`,
      ),
      'JobsSkippedScheduled',
    );
    this.submitted = new cloudwatch.MathExpression({
      expression: 'FILL(api, 0) + FILL(scheduled, 0)',
      usingMetrics: { api: apiSubmitted, scheduled: scheduledSubmitted },
      label: 'submitted',
    });
    this.succeeded = filter(
      'Succeeded',
      props.workerLogs,
      logs.FilterPattern.literal(`{ ${worker('message')} = "${JOB_FINISHED_MESSAGE}" && ${worker('status')} = "SUCCEEDED" }`),
      'JobsSucceeded',
    );
    this.failed = filter(
      'Failed',
      props.workerLogs,
      logs.FilterPattern.literal(
        `{ (${worker('message')} = "${JOB_FINISHED_MESSAGE}" && ${worker('status')} = "FAILED") || ${worker('message')} = "${LAST_ATTEMPT_LOST_MESSAGE}" }`,
      ),
      'JobsFailed',
    );
    // A retry is an attempt started after a failed one: attempt number 2 or more.
    this.retries = filter(
      'Retries',
      props.workerLogs,
      logs.FilterPattern.literal(`{ ${worker('message')} = "${ATTEMPT_STARTED_MESSAGE}" && ${worker('attempt')} > 1 }`),
      'JobRetries',
    );
    // Lambda's REPORT line carries "Init Duration" only after a cold start.
    this.coldStarts = {};
    for (const [name, logGroup] of Object.entries(props.lambdaLogs)) {
      this.coldStarts[name] = filter(
        `ColdStarts${name}`,
        logGroup,
        logs.FilterPattern.allTerms('REPORT', 'Init Duration'),
        `ColdStarts-${name}`,
      );
    }
  }
}
