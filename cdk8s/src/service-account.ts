/**
 * The worker's ServiceAccount. With EKS Pod Identity (the default) the IAM
 * role is bound by a pod identity association made on the AWS side, so the
 * account needs no annotation; for IRSA the role ARN annotation can be set
 * from props.
 */
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';

/** Annotation the IRSA webhook reads to inject web-identity credentials. */
export const IRSA_ROLE_ANNOTATION = 'eks.amazonaws.com/role-arn';

/** Props of {@link WorkerServiceAccount}. */
export interface WorkerServiceAccountProps {
  /** ServiceAccount name (the pod identity association names it too). */
  readonly name: string;
  /** Namespace of the ServiceAccount. */
  readonly namespace: string;
  /** Ownership labels. */
  readonly labels: Record<string, string>;
  /**
   * IAM role ARN for IRSA. Leave unset with EKS Pod Identity, where the
   * association lives in EKS and not on the ServiceAccount.
   */
  readonly irsaRoleArn?: string;
}

/**
 * The worker's ServiceAccount. It does not mount the Kubernetes API token:
 * the worker never calls the API server, and both EKS Pod Identity and IRSA
 * inject their own projected token volume regardless of
 * `automountServiceAccountToken`.
 */
export class WorkerServiceAccount extends Construct {
  /** The ServiceAccount API object. */
  public readonly apiObject: ApiObject;
  /** ServiceAccount name, for `serviceAccountName` in the pod spec. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: WorkerServiceAccountProps) {
    super(scope, id);
    this.name = props.name;
    const annotations = props.irsaRoleArn ? { [IRSA_ROLE_ANNOTATION]: props.irsaRoleArn } : undefined;
    this.apiObject = new k8s.KubeServiceAccount(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels, annotations },
      automountServiceAccountToken: false,
    });
  }
}
