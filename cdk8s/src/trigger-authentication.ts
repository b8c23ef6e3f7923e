/**
 * KEDA TriggerAuthentication for the SQS scaler: KEDA reads the queue's
 * attributes with AWS credentials from pod identity provider `aws` (the
 * KEDA operator's own EKS Pod Identity or IRSA role, optionally assuming
 * another role). The deprecated `aws-eks` provider and the trigger-metadata
 * `identityOwner` are not used. Outside AWS (kind against LocalStack) it can
 * read static keys from a Secret instead (`secretTargetRef`).
 */
import { Construct } from 'constructs';
import {
  TriggerAuthentication,
  TriggerAuthenticationSpec,
  TriggerAuthenticationSpecPodIdentityProvider,
} from '../imports/keda.sh';
import { ACCESS_KEY_ID_KEY, SECRET_ACCESS_KEY_KEY } from './static-credentials';

/** Props of {@link QueueTriggerAuthentication}. */
export interface QueueTriggerAuthenticationProps {
  /** Object name; the ScaledJob's trigger refers to it. */
  readonly name: string;
  /** Namespace (same as the ScaledJob's). */
  readonly namespace: string;
  /** Ownership labels. */
  readonly labels: Record<string, string>;
  /**
   * Role for KEDA to assume before reading the queue attributes
   * (`sqs:GetQueueAttributes`). Unset: KEDA uses the identity of its operator
   * pod directly.
   */
  readonly roleArn?: string;
  /**
   * Secret with static keys (see StaticCredentialsSecret) to use instead of
   * pod identity. Excludes `roleArn`.
   */
  readonly credentialsSecretName?: string;
}

/** TriggerAuthentication using `podIdentity.provider: aws`, or static keys from a Secret. */
export class QueueTriggerAuthentication extends Construct {
  /** The TriggerAuthentication API object. */
  public readonly apiObject: TriggerAuthentication;
  /** Name, for the trigger's `authenticationRef`. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: QueueTriggerAuthenticationProps) {
    super(scope, id);
    this.name = props.name;
    if (props.credentialsSecretName !== undefined && props.roleArn !== undefined) {
      throw new Error('a KEDA role to assume (identity.kedaRoleArn) needs pod identity; drop it or the static credentials');
    }
    const spec: TriggerAuthenticationSpec =
      props.credentialsSecretName === undefined
        ? { podIdentity: { provider: TriggerAuthenticationSpecPodIdentityProvider.AWS, roleArn: props.roleArn } }
        : {
            secretTargetRef: [
              { parameter: 'awsAccessKeyID', name: props.credentialsSecretName, key: ACCESS_KEY_ID_KEY },
              { parameter: 'awsSecretAccessKey', name: props.credentialsSecretName, key: SECRET_ACCESS_KEY_KEY },
            ],
          };
    this.apiObject = new TriggerAuthentication(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      spec,
    });
  }
}
