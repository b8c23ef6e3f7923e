/**
 * An IAM role for one Kubernetes service account through EKS Pod Identity: the
 * role, a trust policy that admits only that service account of that cluster
 * (the session tags Pod Identity sets), and the pod identity association.
 */
import * as eks from 'aws-cdk-lib/aws-eks';
import * as eksv2 from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Props of {@link PodIdentityRole}. */
export interface PodIdentityRoleProps {
  /** The cluster (the association refers to it, so it is created after the cluster). */
  readonly cluster: eksv2.ICluster;
  /** The cluster's name as a literal: it goes into the trust policy's conditions. */
  readonly clusterName: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly description: string;
}

export class PodIdentityRole extends Construct {
  public readonly role: iam.Role;
  public readonly association: eks.CfnPodIdentityAssociation;

  constructor(scope: Construct, id: string, props: PodIdentityRoleProps) {
    super(scope, id);
    const principal = new iam.ServicePrincipal('pods.eks.amazonaws.com', {
      conditions: {
        StringEquals: {
          'aws:RequestTag/eks-cluster-name': props.clusterName,
          'aws:RequestTag/kubernetes-namespace': props.namespace,
          'aws:RequestTag/kubernetes-service-account': props.serviceAccount,
        },
      },
    });
    this.role = new iam.Role(this, 'Role', {
      description: props.description,
      assumedBy: new iam.SessionTagsPrincipal(principal),
    });
    this.association = new eks.CfnPodIdentityAssociation(this, 'Association', {
      clusterName: props.cluster.clusterName,
      namespace: props.namespace,
      serviceAccount: props.serviceAccount,
      roleArn: this.role.roleArn,
    });
  }
}
