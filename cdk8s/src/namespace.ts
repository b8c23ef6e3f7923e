/**
 * The namespace the worker objects live in, labelled for the Pod Security
 * Admission `restricted` profile so that the API server itself rejects any
 * job pod that loosens the security context.
 */
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';

/** Props of {@link WorkerNamespace}. */
export interface WorkerNamespaceProps {
  /** Namespace name. */
  readonly name: string;
  /** Labels to put on the namespace (ownership labels). */
  readonly labels: Record<string, string>;
}

/** A Namespace enforcing the `restricted` Pod Security Standard. */
export class WorkerNamespace extends Construct {
  /** The Namespace API object. */
  public readonly apiObject: ApiObject;

  constructor(scope: Construct, id: string, props: WorkerNamespaceProps) {
    super(scope, id);
    this.apiObject = new k8s.KubeNamespace(this, 'Resource', {
      metadata: {
        name: props.name,
        labels: {
          ...props.labels,
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/audit': 'restricted',
        },
      },
    });
  }
}
