/**
 * EventBridge Scheduler: the project's schedule group and the execution role
 * Scheduler assumes to deliver a schedule's job message to the job queue.
 */
import { Arn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { grantFromTable } from '../grants';

/** Props of {@link JobScheduler}. */
export interface JobSchedulerProps {
  /** Name of the schedule group (JOBS_SCHEDULE_GROUP). */
  readonly groupName: string;
  /** The job queue, the only target of the project's schedules. */
  readonly queue: sqs.IQueue;
  /** Where Scheduler puts deliveries that fail. */
  readonly deadLetterQueue: sqs.IQueue;
}

/** The group and the execution role. */
export class JobScheduler extends Construct {
  public readonly groupName: string;
  /** ARN of the group. */
  public readonly groupArn: string;
  /** ARN pattern of the schedules in the group: what the schedules Lambda may manage. */
  public readonly scheduleArnPattern: string;
  /** The role Scheduler assumes (JOBS_SCHEDULER_ROLE_ARN): sqs:SendMessage to the queue and the DLQ, nothing else. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: JobSchedulerProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const group = new scheduler.CfnScheduleGroup(this, 'Group', { name: props.groupName });
    this.groupName = props.groupName;
    this.groupArn = group.attrArn;
    this.scheduleArnPattern = Arn.format(
      { service: 'scheduler', resource: 'schedule', resourceName: `${props.groupName}/*` },
      stack,
    );
    this.role = new iam.Role(this, 'ExecutionRole', {
      description: 'Assumed by EventBridge Scheduler to send the project schedules job messages to the job queue',
      // Only Scheduler, acting for a schedule of this group in this account (confused deputy guard).
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnEquals: { 'aws:SourceArn': group.attrArn },
        },
      }),
    });
    grantFromTable(this.role, 'scheduler', {
      queue: props.queue.queueArn,
      'schedule-dead-letter-queue': props.deadLetterQueue.queueArn,
    });
  }
}
