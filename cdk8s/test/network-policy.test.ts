/**
 * The job pods' egress, evaluated: the rendered NetworkPolicy is interpreted
 * the way Kubernetes does (a connection is allowed when one egress rule
 * matches both its peer and its port) for the destinations a worker needs
 * and for those it must not reach.
 */
import { BlockList, isIPv6 } from 'net';
import { Manifest, only, synthManifests, testProps } from './support/synth';

/** A connection a job pod might open. */
interface Destination {
  readonly what: string;
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
  /** An address outside the cluster, or a pod (namespace labels + pod labels). */
  readonly ip?: string;
  readonly pod?: { namespaceLabels: Record<string, string>; labels: Record<string, string> };
}

const subset = (want: Record<string, string> | undefined, have: Record<string, string>) =>
  Object.entries(want ?? {}).every(([k, v]) => have[k] === v);

function inBlock(block: { cidr: string; except?: string[] }, ip: string): boolean {
  const family = isIPv6(ip) ? 'ipv6' : 'ipv4';
  const list = (cidrs: string[]) => {
    const b = new BlockList();
    for (const c of cidrs) {
      const [net, prefix] = c.split('/');
      if (isIPv6(net) === (family === 'ipv6')) b.addSubnet(net, Number(prefix), family);
    }
    return b;
  };
  return list([block.cidr]).check(ip, family) && !list(block.except ?? []).check(ip, family);
}

function peerMatches(peer: any, d: Destination): boolean {
  if (peer.ipBlock) return d.ip !== undefined && inBlock(peer.ipBlock, d.ip);
  if (!d.pod) return false;
  // namespaceSelector + podSelector in one peer: both must match; absent namespaceSelector = the policy's namespace.
  const nsOk = peer.namespaceSelector ? subset(peer.namespaceSelector.matchLabels, d.pod.namespaceLabels) : false;
  const podOk = peer.podSelector ? subset(peer.podSelector.matchLabels, d.pod.labels) : true;
  return nsOk && podOk;
}

function allowed(policy: Manifest, d: Destination): boolean {
  return policy.spec.egress.some(
    (rule: any) =>
      (rule.to === undefined || rule.to.some((peer: any) => peerMatches(peer, d))) &&
      (rule.ports === undefined || rule.ports.some((p: any) => (p.protocol ?? 'TCP') === d.protocol && p.port === d.port)),
  );
}

const coreDns = { namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' }, labels: { 'k8s-app': 'kube-dns' } };

const NEEDED: Destination[] = [
  { what: 'cluster DNS over UDP', protocol: 'UDP', port: 53, pod: coreDns },
  { what: 'cluster DNS over TCP', protocol: 'TCP', port: 53, pod: coreDns },
  { what: 'SQS / DynamoDB public endpoint', protocol: 'TCP', port: 443, ip: '52.94.133.131' },
  { what: 'a VPC interface endpoint', protocol: 'TCP', port: 443, ip: '10.0.12.34' },
  { what: 'an AWS endpoint over IPv6', protocol: 'TCP', port: 443, ip: '2600:1f18:4b4e::1' },
  { what: 'the pod identity agent', protocol: 'TCP', port: 80, ip: '169.254.170.23' },
  { what: 'the pod identity agent (IPv6)', protocol: 'TCP', port: 80, ip: 'fd00:ec2::23' },
];

const DENIED: Destination[] = [
  { what: 'the instance metadata service', protocol: 'TCP', port: 80, ip: '169.254.169.254' },
  { what: 'the instance metadata service (IPv6)', protocol: 'TCP', port: 80, ip: 'fd00:ec2::254' },
  { what: 'a link-local address over 443', protocol: 'TCP', port: 443, ip: '169.254.169.254' },
  { what: 'plain HTTP to the internet', protocol: 'TCP', port: 80, ip: '93.184.216.34' },
  { what: 'an outside DNS resolver', protocol: 'UDP', port: 53, ip: '8.8.8.8' },
  { what: 'DNS to some other pod', protocol: 'UDP', port: 53, pod: { namespaceLabels: { 'kubernetes.io/metadata.name': 'jobs-test' }, labels: { app: 'dns' } } },
  { what: 'a database in the VPC', protocol: 'TCP', port: 5432, ip: '10.0.3.7' },
  { what: 'SSH anywhere', protocol: 'TCP', port: 22, ip: '10.0.3.7' },
];

describe('job pod egress', () => {
  const policy = only(synthManifests(), 'NetworkPolicy');

  test.each(NEEDED.map((d) => [d.what, d] as const))('allows %s', (_what, d) => {
    expect(allowed(policy, d)).toBe(true);
  });

  test.each(DENIED.map((d) => [d.what, d] as const))('denies %s', (_what, d) => {
    expect(allowed(policy, d)).toBe(false);
  });

  test('extra ports (an emulator) are reachable only when asked', () => {
    const emulator: Destination = { what: 'emulator', protocol: 'TCP', port: 4566, ip: '172.18.0.5' };
    expect(allowed(policy, emulator)).toBe(false);
    const withPort = only(synthManifests(testProps({ networkPolicy: { extraEgressTcpPorts: [4566] } })), 'NetworkPolicy');
    expect(allowed(withPort, emulator)).toBe(true);
  });

  test('the DNS pods can be named for clusters that label them otherwise', () => {
    const dns = { namespace: 'dns', podLabels: { app: 'unbound' } };
    const custom = only(synthManifests(testProps({ networkPolicy: { dns } })), 'NetworkPolicy');
    const unbound = { namespaceLabels: { 'kubernetes.io/metadata.name': 'dns' }, labels: { app: 'unbound' } };
    expect(allowed(custom, { what: 'unbound', protocol: 'UDP', port: 53, pod: unbound })).toBe(true);
    expect(allowed(custom, { what: 'coredns', protocol: 'UDP', port: 53, pod: coreDns })).toBe(false);
    expect(() => synthManifests(testProps({ networkPolicy: { dns: { podLabels: {} } } }))).toThrow(/podLabels/);
  });
});
