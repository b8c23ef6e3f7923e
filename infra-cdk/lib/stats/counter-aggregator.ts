/**
 * The counter aggregator (`JOBS_COUNTERS=stream`): the `counter-aggregator` Rust Lambda on
 * the job table's stream. A DynamoDB event source mapping delivers batches of job-item
 * records only (a filter on the key prefix `JOB#`, so the aggregator's own counter and
 * checkpoint writes never invoke it), one shard at a time, with a tumbling window so each
 * event names its shard; each batch is booked in one transaction with the shard's
 * checkpoint (job-core's `application::aggregate`). A failed batch is retried as a whole
 * (the checkpoint makes a retry book nothing twice); after `retryAttempts` its position
 * goes to an SQS dead-letter queue and an alarm fires. An alarm on the iterator age says
 * when the stats fall behind.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { grantFromTable, tableResources } from '../grants';
import { RustFunction } from '../api/rust-function';

/** Key prefix of job items, the only records delivered. */
export const JOB_KEY_PREFIX = 'JOB#';

/** Props of {@link CounterAggregator}. */
export interface CounterAggregatorProps {
  /** Directory holding `counter-aggregator/bootstrap.zip`. */
  readonly bundleDir: string;
  /** The shared JOBS_* environment (JOBS_STATS_SHARDS must be the API's). */
  readonly environment: Record<string, string>;
  /** The job table; it must have a stream with new and old images. */
  readonly table: dynamodb.ITable;
  /** Records per batch (one transaction each). @default 1000 */
  readonly batchSize?: number;
  /** How long records are gathered before a batch is sent. @default 1 second */
  readonly maxBatchingWindow?: Duration;
  /** The tumbling window (its only use here: events name their shard). @default 1 minute */
  readonly tumblingWindow?: Duration;
  /** Retries of a failed batch before its position goes to the dead-letter queue. @default 10 */
  readonly retryAttempts?: number;
  /** Alarm when the newest record delivered is older than this. @default 5 minutes */
  readonly iteratorAgeThreshold?: Duration;
  /** Alarm notifications. @default none */
  readonly alarmTopicArn?: string;
  /** Log retention. @default one month */
  readonly logRetention?: logs.RetentionDays;
}

export class CounterAggregator extends Construct {
  public readonly function: RustFunction;
  /** Where the positions of batches that kept failing go (on-failure destination). */
  public readonly deadLetterQueue: sqs.Queue;
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: CounterAggregatorProps) {
    super(scope, id);
    if (!props.table.tableStreamArn) {
      throw new Error('CounterAggregator needs a table with a stream (NEW_AND_OLD_IMAGES)');
    }
    this.function = new RustFunction(this, 'Function', {
      binary: 'counter-aggregator',
      bundleDir: props.bundleDir,
      environment: props.environment,
      description: 'Counter aggregator: books job counters from the table stream, one transaction per batch',
      // A booking is a checkpoint read and one transaction, each with its retries.
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
    });
    // Counters and checkpoints only: IAM refuses these actions on any job item.
    grantFromTable(this.function.role, 'counter-aggregator', tableResources(props.table.tableArn, [], props.table.tableStreamArn));
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.function.function.addEventSource(
      new sources.DynamoEventSource(props.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: props.batchSize ?? 1000,
        maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(1),
        tumblingWindow: props.tumblingWindow ?? Duration.minutes(1),
        retryAttempts: props.retryAttempts ?? 10,
        // One transaction per batch: a batch is booked whole or not at all, so neither
        // bisecting nor partial batch responses apply.
        bisectBatchOnError: false,
        reportBatchItemFailures: false,
        parallelizationFactor: 1,
        onFailure: new sources.SqsDlq(this.deadLetterQueue),
        filters: [lambda.FilterCriteria.filter({ dynamodb: { Keys: { pk: { S: lambda.FilterRule.beginsWith(JOB_KEY_PREFIX) } } } })],
      }),
    );

    // cdk-nag findings accepted here rather than in the stack's list: they exist only
    // when counting from the stream.
    const policy = this.function.role.node.tryFindChild('DefaultPolicy')?.node.tryFindChild('Resource');
    if (policy) {
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'dynamodb:ListStreams supports no resource-level permissions ("*" is the only resource IAM accepts), and the event source mapping needs it; every other stream action is on this table\'s stream only',
      });
    }
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'this queue is itself a dead-letter queue: the on-failure destination of the stream event source mapping (a Lambda destination, not an SQS redrive, so cdk-nag cannot see it)',
    });

    const threshold = props.iteratorAgeThreshold ?? Duration.minutes(5);
    const iteratorAge = new cloudwatch.Alarm(this, 'IteratorAgeAlarm', {
      alarmDescription: `The counter aggregator is more than ${threshold.toHumanString()} behind the job table: the stats lag`,
      metric: this.function.function.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) }),
      threshold: threshold.toMilliseconds(),
      evaluationPeriods: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const failed = new cloudwatch.Alarm(this, 'FailedBatchesAlarm', {
      alarmDescription: 'A stream batch could not be booked after its retries: the stats miss its records (see the dead-letter queue)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarms.push(iteratorAge, failed);
    if (props.alarmTopicArn) {
      const topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn);
      for (const alarm of this.alarms) alarm.addAlarmAction(new actions.SnsAction(topic));
    }
  }
}
