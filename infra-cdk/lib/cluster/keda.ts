/**
 * KEDA on the cluster (Helm, the release whose CRDs the cdk8s chart is checked
 * against) and the operator's pod identity: it may only read the job queue's
 * attributes, which is all the `aws-sqs-queue` scaler does.
 */
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { grantFromTable } from '../grants';
import { PodIdentityRole } from './pod-identity-role';

export const KEDA_VERSION = '2.20.2';
export const KEDA_NAMESPACE = 'keda';
export const KEDA_OPERATOR_SERVICE_ACCOUNT = 'keda-operator';

/** Props of {@link Keda}. */
export interface KedaProps {
  readonly cluster: eks.Cluster;
  readonly clusterName: string;
  /** The queue the ScaledJob watches. */
  readonly queue: sqs.IQueue;
  readonly podIdentityAgent: eks.IAddon;
  readonly systemNodes: eks.Nodegroup;
}

export class Keda extends Construct {
  public readonly operator: PodIdentityRole;
  public readonly chart: eks.HelmChart;

  constructor(scope: Construct, id: string, props: KedaProps) {
    super(scope, id);
    this.operator = new PodIdentityRole(this, 'OperatorIdentity', {
      cluster: props.cluster,
      clusterName: props.clusterName,
      namespace: KEDA_NAMESPACE,
      serviceAccount: KEDA_OPERATOR_SERVICE_ACCOUNT,
      description: 'KEDA operator: reads the job queue depth',
    });
    grantFromTable(this.operator.role, 'keda-operator', { queue: props.queue.queueArn });
    this.chart = props.cluster.addHelmChart('Keda', {
      chart: 'keda',
      repository: 'https://kedacore.github.io/charts',
      version: KEDA_VERSION,
      release: 'keda',
      namespace: KEDA_NAMESPACE,
      createNamespace: true,
      wait: true,
      values: {
        nodeSelector: { 'jobs-api/node-role': 'system' },
      },
    });
    this.chart.node.addDependency(this.operator.association, props.podIdentityAgent, props.systemNodes);
  }
}
