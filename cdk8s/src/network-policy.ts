/**
 * NetworkPolicy for the job pods: nothing may connect to them, and they may
 * reach only what the worker needs:
 *   - DNS (UDP and TCP 53) to the cluster DNS pods (kube-system, k8s-app=kube-dns);
 *   - HTTPS (TCP 443) to any address outside the link-local ranges: the AWS
 *     APIs (SQS, DynamoDB; public endpoints, VPC interface endpoints and the
 *     DynamoDB gateway endpoint's public ranges alike);
 *   - the EKS Pod Identity agent on the node (169.254.170.23 / fd00:ec2::23,
 *     TCP 80): the worker's credentials;
 *   - extra TCP ports, if asked (an emulator endpoint outside AWS).
 * Everything else is denied, notably the instance metadata service
 * (169.254.169.254): a pod cannot fall back to the node role's credentials.
 * Enforced where the cluster runs a network policy engine (for example the
 * VPC CNI with network policy enabled).
 */
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { requireInteger, requireNonEmpty } from './worker-settings';

/** Addresses of the EKS Pod Identity agent on every node (IPv4 and IPv6 clusters). */
export const POD_IDENTITY_AGENT_CIDRS = ['169.254.170.23/32', 'fd00:ec2::23/128'];

/** Link-local ranges (metadata service, node agents) that the HTTPS rule leaves out. */
export const LINK_LOCAL_CIDRS = { ipv4: '169.254.0.0/16', ipv6: 'fe80::/10', ec2Ipv6: 'fd00:ec2::/32' };

/** Where the cluster DNS pods are. */
export interface ClusterDnsSelector {
  /** Namespace of the DNS pods. @default 'kube-system' */
  readonly namespace?: string;
  /** Labels of the DNS pods. @default { 'k8s-app': 'kube-dns' } (CoreDNS on EKS and kind) */
  readonly podLabels?: Record<string, string>;
}

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
  /** The cluster DNS pods the job pods may query. @default CoreDNS in kube-system */
  readonly dns?: ClusterDnsSelector;
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
    const dnsNamespace = props.dns?.namespace ?? 'kube-system';
    const dnsPodLabels = props.dns?.podLabels ?? { 'k8s-app': 'kube-dns' };
    requireNonEmpty('networkPolicy.dns.namespace', dnsNamespace);
    if (Object.keys(dnsPodLabels).length === 0) {
      throw new Error('networkPolicy.dns.podLabels must select the DNS pods (at least one label)');
    }
    const extra = props.extraEgressTcpPorts ?? [];
    this.apiObject = new k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      spec: {
        podSelector: { matchLabels: props.podSelector },
        policyTypes: ['Ingress', 'Egress'],
        // No ingress rules: the worker serves nothing.
        ingress: [],
        egress: [
          // Cluster DNS, and only the cluster's DNS pods.
          {
            to: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': dnsNamespace } },
                podSelector: { matchLabels: dnsPodLabels },
              },
            ],
            ports: [udp(53), tcp(53)],
          },
          // AWS service endpoints over HTTPS; not the link-local ranges.
          {
            to: [
              { ipBlock: { cidr: '0.0.0.0/0', except: [LINK_LOCAL_CIDRS.ipv4] } },
              { ipBlock: { cidr: '::/0', except: [LINK_LOCAL_CIDRS.ipv6, LINK_LOCAL_CIDRS.ec2Ipv6] } },
            ],
            ports: [tcp(443)],
          },
          // EKS Pod Identity agent (credentials for the worker's role).
          { to: POD_IDENTITY_AGENT_CIDRS.map((cidr) => ({ ipBlock: { cidr } })), ports: [tcp(80)] },
          // Extra ports, e.g. an emulator's endpoint.
          ...(extra.length > 0 ? [{ ports: extra.map(tcp) }] : []),
        ],
      },
    });
  }
}
