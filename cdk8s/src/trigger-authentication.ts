/**
 * KEDA TriggerAuthentication for the SQS scaler: KEDA reads the queue's
 * attributes with AWS credentials from pod identity provider `aws` (the
 * KEDA operator's own EKS Pod Identity or IRSA role, optionally assuming
 * another role). The deprecated `aws-eks` provider and the trigger-metadata
 * `identityOwner` are not used.
 */
import { Construct } from 'constructs';
import {
  TriggerAuthentication,
  TriggerAuthenticationSpecPodIdentityProvider,
} from '../imports/keda.sh';

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
}

/** TriggerAuthentication using `podIdentity.provider: aws`. */
export class QueueTriggerAuthentication extends Construct {
  /** The TriggerAuthentication API object. */
  public readonly apiObject: TriggerAuthentication;
  /** Name, for the trigger's `authenticationRef`. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: QueueTriggerAuthenticationProps) {
    super(scope, id);
    this.name = props.name;
    this.apiObject = new TriggerAuthentication(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      spec: {
        podIdentity: {
          provider: TriggerAuthenticationSpecPodIdentityProvider.AWS,
          roleArn: props.roleArn,
        },
      },
    });
  }
}
