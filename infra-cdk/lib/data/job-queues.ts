/**
 * The job queue with its dead-letter queue, and the dead-letter queue for
 * Scheduler deliveries that fail. Settings come from the shared settings file.
 */
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QueueSettings } from '../queue-settings';

/** Props of {@link JobQueues}. */
export interface JobQueuesProps {
  /** Visibility timeout, redrive and dead-letter retention. */
  readonly settings: QueueSettings;
  /** How long a job message may wait in the queue. @default 4 days (the SQS default) */
  readonly retention?: Duration;
}

/**
 * Every queue is encrypted with SQS-managed keys (SSE-SQS) and refuses plain
 * HTTP. SSE-SQS rather than KMS: EventBridge Scheduler and the API send to the
 * job queue, and a customer key would need a key policy for each sender and
 * cost per request, for no extra protection of the data at rest.
 */
export class JobQueues extends Construct {
  /** Where jobs wait (JOBS_QUEUE_URL). */
  public readonly queue: sqs.Queue;
  /** Messages received maxReceiveCount times without being deleted. */
  public readonly deadLetterQueue: sqs.Queue;
  /** Scheduler deliveries that could not be sent to the job queue (JOBS_SCHEDULE_DLQ_ARN). */
  public readonly scheduleDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: JobQueuesProps) {
    super(scope, id);
    const deadLetterRetention = Duration.days(props.settings.deadLetterRetentionDays);
    const common = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true };
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', { ...common, retentionPeriod: deadLetterRetention });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...common,
      visibilityTimeout: Duration.seconds(props.settings.visibilityTimeoutSecs),
      retentionPeriod: props.retention,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.settings.maxReceiveCount },
    });
    this.scheduleDeadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      ...common,
      retentionPeriod: deadLetterRetention,
    });
  }
}
