/**
 * The CloudWatch dashboard and alarms: queue depth and age of the oldest
 * message, dead-letter depths, job counts (from {@link JobMetrics}), API
 * 4xx/5xx and latency, Lambda errors, duration and cold starts.
 */
import { Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { JobMetrics } from './job-metrics';

/** Props of {@link JobDashboard}. */
export interface JobDashboardProps {
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  readonly httpApi: apigwv2.IHttpApi;
  readonly functions: Record<string, lambda.IFunction>;
  readonly metrics: JobMetrics;
  /** SNS topic ARN the alarms notify. @default alarms without actions */
  readonly alarmTopicArn?: string;
  /** Alarm when the oldest queued message is older than this. @default 15 minutes */
  readonly maxMessageAge?: Duration;
  /** Alarm when failed / (succeeded + failed) over an hour exceeds this fraction. @default 0.2 */
  readonly maxFailureRate?: number;
}

export class JobDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: JobDashboardProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const queueDepth = props.queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' });
    const inFlight = props.queue.metricApproximateNumberOfMessagesNotVisible({ period, statistic: 'Maximum' });
    const oldest = props.queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' });
    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' });
    const scheduleDlqDepth = props.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period,
      statistic: 'Maximum',
    });
    const api = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.httpApi.apiId },
        statistic,
        period,
      });
    const api4xx = api('4xx', 'Sum');
    const api5xx = api('5xx', 'Sum');
    const m = props.metrics;
    const withPeriod = (metric: cloudwatch.Metric) => metric.with({ period });
    const failureRate = new cloudwatch.MathExpression({
      expression: 'IF(succeeded + failed > 0, failed / (succeeded + failed), 0)',
      usingMetrics: { succeeded: m.succeeded.with({ period: Duration.hours(1) }), failed: m.failed.with({ period: Duration.hours(1) }) },
      period: Duration.hours(1),
      label: 'failure rate',
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Job queue', left: [queueDepth, inFlight], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Age of oldest message (s)', left: [oldest], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Dead-letter queues', left: [dlqDepth, scheduleDlqDepth], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Jobs',
            left: [
              m.submitted.with({ period }),
              withPeriod(m.succeeded).with({ label: 'succeeded' }),
              withPeriod(m.failed).with({ label: 'failed' }),
              withPeriod(m.skipped).with({ label: 'skipped (scheduled)' }),
              withPeriod(m.retries).with({ label: 'retries' }),
            ],
            width: 12,
          }),
          new cloudwatch.GraphWidget({ title: 'Failure rate (hourly)', left: [failureRate], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'API 4xx / 5xx', left: [api4xx, api5xx], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'API latency (ms)',
            left: [api('Latency', 'p50'), api('Latency', 'p99'), api('IntegrationLatency', 'p99')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'API requests', left: [api('Count', 'Sum')], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lambda errors',
            left: Object.entries(props.functions).map(([name, fn]) => fn.metricErrors({ period, label: name })),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Lambda duration p99 (ms)',
            left: Object.entries(props.functions).map(([name, fn]) =>
              fn.metricDuration({ period, statistic: 'p99', label: name }),
            ),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Lambda cold starts',
            left: Object.entries(m.coldStarts).map(([name, metric]) => metric.with({ period, label: name })),
            width: 8,
          }),
        ],
      ],
    });

    const alarm = (alarmId: string, description: string, metric: cloudwatch.IMetric, threshold: number, evaluationPeriods = 1) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.alarmTopicArn) {
        created.addAlarmAction(new actions.SnsAction(sns.Topic.fromTopicArn(this, `${alarmId}Topic`, props.alarmTopicArn)));
      }
      this.alarms.push(created);
      return created;
    };
    alarm('JobDeadLetters', 'Job messages reached the dead-letter queue', dlqDepth, 1);
    alarm('ScheduleDeadLetters', 'Scheduler could not deliver schedule runs to the job queue', scheduleDlqDepth, 1);
    alarm('FailureRate', 'More jobs fail than expected', failureRate, props.maxFailureRate ?? 0.2);
    alarm('Api5xx', 'The API answers 5xx', api5xx, 5);
    alarm('OldestMessage', 'Jobs wait in the queue too long (are workers running?)', oldest, (props.maxMessageAge ?? Duration.minutes(15)).toSeconds(), 2);
  }
}
