/**
 * The missed-runs signal: every pass, the reconciler logs how many expected schedule runs
 * produced no job within the grace period (job-core's `application::schedules::missed_runs`:
 * the message `missed scheduled runs`, the count in `missed`, zero included). A metric
 * filter turns that line into the `MissedScheduledRuns` metric, and an alarm fires while
 * it is above zero. `GET /jobs/schedules/{name}` shows which runs they are.
 */
import { Duration } from 'aws-cdk-lib';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE } from './job-metrics';

/** The metric's name. */
export const MISSED_RUNS_METRIC = 'MissedScheduledRuns';
/** The reconciler's log message (job-core's `MISSED_RUNS_MESSAGE`). */
export const MISSED_RUNS_MESSAGE = 'missed scheduled runs';

/** Props of {@link MissedRunsAlarm}. */
export interface MissedRunsAlarmProps {
  /** The reconciler's log group. */
  readonly reconcilerLogs: logs.ILogGroup;
  /** SNS topic ARN the alarm notifies. @default an alarm without actions */
  readonly alarmTopicArn?: string;
  /** Period of the metric the alarm reads. @default 5 minutes */
  readonly period?: Duration;
}

export class MissedRunsAlarm extends Construct {
  /** The largest count a pass logged in each period. */
  public readonly metric: cloudwatch.Metric;
  public readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: MissedRunsAlarmProps) {
    super(scope, id);
    new logs.MetricFilter(this, 'Filter', {
      logGroup: props.reconcilerLogs,
      filterPattern: logs.FilterPattern.literal(`{ $.fields.message = "${MISSED_RUNS_MESSAGE}" }`),
      metricNamespace: METRIC_NAMESPACE,
      metricName: MISSED_RUNS_METRIC,
      metricValue: '$.fields.missed',
      unit: cloudwatch.Unit.COUNT,
    });
    this.metric = new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: MISSED_RUNS_METRIC,
      statistic: 'Maximum',
      period: props.period ?? Duration.minutes(5),
    });
    this.alarm = new cloudwatch.Alarm(this, 'Alarm', {
      alarmDescription: 'A schedule run that was expected produced no job within the grace period (GET /jobs/schedules/{name} lists them)',
      metric: this.metric,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // The reconciler logs a count every pass, zero included; no line means no pass,
      // which the reconciler's own errors show.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopicArn) {
      this.alarm.addAlarmAction(new actions.SnsAction(sns.Topic.fromTopicArn(this, 'Topic', props.alarmTopicArn)));
    }
  }
}
