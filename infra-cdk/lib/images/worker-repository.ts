/** The ECR repository of the data-processor image. */
import { Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Construct } from 'constructs';

/** The tag that marks the repository as its stack's (value: the stack name); the deploy role pushes only there. */
export const STACK_TAG = 'jobs:stack';

/** Props of {@link WorkerRepository}. */
export interface WorkerRepositoryProps {
  /** Tagged images kept; older ones expire. @default 20 */
  readonly keepImages?: number;
  /** What happens to the repository (and its images) when it leaves the stack. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** Scan on push, immutable tags (a tag names one build forever), and a lifecycle policy. */
export class WorkerRepository extends Construct {
  public readonly repository: ecr.Repository;

  constructor(scope: Construct, id: string, props: WorkerRepositoryProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const keep = props.keepImages ?? 20;
    this.repository = new ecr.Repository(this, 'Repository', {
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      encryption: ecr.RepositoryEncryption.AES_256,
      removalPolicy,
      emptyOnDelete: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [
        {
          rulePriority: 1,
          description: 'Expire untagged images (layers of interrupted pushes) after a day',
          tagStatus: ecr.TagStatus.UNTAGGED,
          maxImageAge: Duration.days(1),
        },
        {
          rulePriority: 2,
          description: `Keep the newest ${keep} images`,
          tagStatus: ecr.TagStatus.ANY,
          maxImageCount: keep,
        },
      ],
    });
    Tags.of(this.repository).add(STACK_TAG, Stack.of(this).stackName);
  }
}
