/**
 * NetworkPolicy for the job pods: nothing may connect to them, and they may
 * only reach DNS, HTTPS (the AWS APIs: SQS, DynamoDB, STS) and the EKS Pod
 * Identity agent on the node. Enforced where the cluster runs a network
 * policy engine (for example the VPC CNI with network policy enabled).
 */
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { requireInteger } from './worker-settings';

/** Addresses of the EKS Pod Identity agent on every node (IPv4 and IPv6 clusters). */
export const POD_IDENTITY_AGENT_CIDRS = ['169.254.170.23/32', 'fd00:ec2::23/128'];

/** Props of {@link WorkerNetworkPolicy}. */
export interface WorkerNetworkPolicyProps {
  /** Policy name. */
  readonly name: string;
  /** Namespace of the job pods. */
  readonly namespace: string;
  /** Ownership labels. */
  readonly labels: Record<string, string>;
  /** Labels that select the job pods. */
  readonly podSelector: Record<string, string>;
  /** Extra TCP ports the pods may reach anywhere (e.g. an emulator endpoint). @default none */
  readonly extraEgressTcpPorts?: number[];
}

/** Default-deny ingress, allow-listed egress for the job pods. */
export class WorkerNetworkPolicy extends Construct {
  /** The NetworkPolicy API object. */
  public readonly apiObject: ApiObject;

  constructor(scope: Construct, id: string, props: WorkerNetworkPolicyProps) {
    super(scope, id);
    const tcp = (port: number) => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });
    const udp = (port: number) => ({ protocol: 'UDP', port: k8s.IntOrString.fromNumber(port) });
    for (const port of props.extraEgressTcpPorts ?? []) {
      requireInteger('networkPolicy.extraEgressTcpPorts[]', port, 1, 65535);
    }
    this.apiObject = new k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      spec: {
        podSelector: { matchLabels: props.podSelector },
        policyTypes: ['Ingress', 'Egress'],
        // No ingress rules: the worker serves nothing.
        ingress: [],
        egress: [
          // Cluster DNS.
          { ports: [udp(53), tcp(53)] },
          // AWS service endpoints (public or VPC endpoints) over HTTPS.
          { ports: [tcp(443), ...(props.extraEgressTcpPorts ?? []).map(tcp)] },
          // EKS Pod Identity agent (credentials for the worker's role).
          { to: POD_IDENTITY_AGENT_CIDRS.map((cidr) => ({ ipBlock: { cidr } })), ports: [tcp(80)] },
        ],
      },
    });
  }
}
