/**
 * The cluster's API endpoint is closed by default: public only from the CIDR
 * blocks the user names (the test synth names a documentation range), or
 * private only; naming neither fails synth with a message that says what to set.
 */
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { clusterEndpoint } from '../lib/cluster/job-cluster';
import { TEST_ENDPOINT_CIDR } from './support/paths';
import { one } from './support/template';

test('the synthesized cluster is public only from the named CIDRs, and private inside the VPC', () => {
  const [, cluster] = one('AWS::EKS::Cluster', 'Cluster');
  expect(cluster.Properties.ResourcesVpcConfig).toMatchObject({
    EndpointPrivateAccess: true,
    EndpointPublicAccess: true,
    PublicAccessCidrs: [TEST_ENDPOINT_CIDR],
  });
});

test('naming neither CIDRs nor a private endpoint is refused, naming what to set', () => {
  expect(() => clusterEndpoint(undefined, undefined)).toThrow(/clusterPublicEndpointCidrs.*clusterEndpointPrivate=true/);
  expect(() => clusterEndpoint([], false)).toThrow(/closed by default/);
  expect(() => clusterEndpoint(['10.0.0.1'], false)).toThrow(/not CIDR blocks: 10.0.0.1/);
  expect(() => clusterEndpoint(['10.0.0.0/8'], true)).toThrow(/exclude each other/);
  expect(clusterEndpoint(undefined, true)).toBe(eks.EndpointAccess.PRIVATE);
});
