/**
 * The cluster VPC's endpoints in the synthesized template: gateway endpoints for
 * DynamoDB and S3 on the private subnets' routes; interface endpoints with private
 * DNS, in the private subnets, behind a security group that admits HTTPS from the
 * VPC's CIDR only. Coverage is derived, not copied: every AWS service prefix in the
 * actions of the data-processor, keda-operator and Karpenter controller roles (as
 * synthesized, and as settings/grants.json lists them) has an endpoint, unless it is
 * one of SERVICES_THROUGH_NAT, which the README names. Pod identities need EKS Auth,
 * the worker image repository ECR and S3, the log shipping add-on CloudWatch Logs.
 * Turned off, no interface endpoint is made and the gateway endpoints stay.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'fs';
import { join } from 'path';
import { readAppConfig } from '../lib/app-config';
import { JobCluster } from '../lib/cluster/job-cluster';
import { KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT } from '../lib/cluster/karpenter';
import { KEDA_NAMESPACE, KEDA_OPERATOR_SERVICE_ACCOUNT } from '../lib/cluster/keda';
import { INTERFACE_ENDPOINTS, SERVICES_THROUGH_NAT } from '../lib/cluster/vpc-endpoints';
import { loadGrants } from '../lib/grants';
import { PACKAGE_DIR } from './support/paths';
import { joinedText, Json, refOf, resourcesOf, statementsOfRole, template } from './support/template';

/** `com.amazonaws.<region>.sqs` -> `sqs`. */
const serviceOf = (endpoint: Json): string => joinedText(endpoint.Properties.ServiceName).replace(/^.*<<Ref:AWS::Region>>\./, '');
const endpoints = resourcesOf('AWS::EC2::VPCEndpoint');
const byType = (type: string) => new Map(endpoints.filter(([, e]) => e.Properties.VpcEndpointType === type).map(([id, e]) => [serviceOf(e), { id, ...e }]));
const gateways = byType('Gateway');
const interfaces = byType('Interface');
const served = new Set([...gateways.keys(), ...interfaces.keys()]);

const subnetsOfType = (type: string) =>
  resourcesOf('AWS::EC2::Subnet')
    .filter(([, s]) => (s.Properties.Tags ?? []).some((t: Json) => t.Key === 'aws-cdk:subnet-type' && t.Value === type))
    .map(([id]) => id)
    .sort();
const privateSubnets = subnetsOfType('Private');

/** The IAM service prefixes of the actions of the role bound to a service account. */
function prefixesOfServiceAccount(namespace: string, serviceAccount: string): string[] {
  const associations = resourcesOf('AWS::EKS::PodIdentityAssociation').filter(
    ([, a]) => a.Properties.Namespace === namespace && a.Properties.ServiceAccount === serviceAccount,
  );
  if (associations.length !== 1) {
    throw new Error(`expected one pod identity association for ${namespace}/${serviceAccount}, found ${associations.length}`);
  }
  const roleId = refOf(associations[0][1].Properties.RoleArn)!;
  const actions = statementsOfRole(roleId).flatMap((s) => s.actions);
  return [...new Set(actions.map((a) => a.split(':')[0]))];
}

const grantPrefixes = (role: 'data-processor' | 'keda-operator') =>
  loadGrants().roles[role].grants.flatMap((g) => g.actions.map((a) => a.split(':')[0]));

const called: Record<string, string[]> = {
  'data-processor': [...prefixesOfServiceAccount('jobs', 'data-processor'), ...grantPrefixes('data-processor')],
  'keda-operator': [...prefixesOfServiceAccount(KEDA_NAMESPACE, KEDA_OPERATOR_SERVICE_ACCOUNT), ...grantPrefixes('keda-operator')],
  'karpenter controller': prefixesOfServiceAccount(KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT),
};
const allCalled = new Set(Object.values(called).flat());

describe('gateway endpoints', () => {
  test('DynamoDB and S3, on the route tables of the private subnets', () => {
    expect([...gateways.keys()].sort()).toEqual(['dynamodb', 's3']);
    const privateRouteTables = resourcesOf('AWS::EC2::SubnetRouteTableAssociation')
      .filter(([, a]) => privateSubnets.includes(refOf(a.Properties.SubnetId)!))
      .map(([, a]) => refOf(a.Properties.RouteTableId));
    expect(privateRouteTables).toHaveLength(privateSubnets.length);
    for (const [service, endpoint] of gateways) {
      const tables = endpoint.Properties.RouteTableIds.map(refOf);
      expect({ service, missing: privateRouteTables.filter((t) => !tables.includes(t)) }).toEqual({ service, missing: [] });
    }
  });
});

describe('interface endpoints', () => {
  test('are the ones the construct declares', () => {
    expect([...interfaces.keys()].sort()).toEqual(Object.keys(INTERFACE_ENDPOINTS).sort());
  });

  test('each has private DNS and sits in the private subnets, one per AZ', () => {
    expect(privateSubnets.length).toBeGreaterThanOrEqual(2);
    for (const [service, endpoint] of interfaces) {
      expect({
        service,
        privateDns: endpoint.Properties.PrivateDnsEnabled,
        subnets: endpoint.Properties.SubnetIds.map(refOf).sort(),
      }).toEqual({ service, privateDns: true, subnets: privateSubnets });
    }
  });

  test('each is behind a security group that admits only HTTPS from the VPC CIDR', () => {
    const vpcs = resourcesOf('AWS::EC2::VPC');
    expect(vpcs).toHaveLength(1);
    const vpcCidr = vpcs[0][1].Properties.CidrBlock;
    expect(typeof vpcCidr).toBe('string');
    for (const [service, endpoint] of interfaces) {
      const groups = endpoint.Properties.SecurityGroupIds.map(refOf);
      expect(groups).toHaveLength(1);
      const group = template().Resources[groups[0]].Properties;
      const standalone = resourcesOf('AWS::EC2::SecurityGroupIngress')
        .filter(([, r]) => refOf(r.Properties.GroupId) === groups[0])
        .map(([, r]) => r.Properties);
      const ingress = [...(group.SecurityGroupIngress ?? []), ...standalone].map((r: Json) => ({
        protocol: r.IpProtocol,
        from: r.FromPort,
        to: r.ToPort,
        cidr: r.CidrIp,
        cidrIpv6: r.CidrIpv6,
        sourceGroup: r.SourceSecurityGroupId,
      }));
      expect({ service, ingress }).toEqual({ service, ingress: [{ protocol: 'tcp', from: 443, to: 443, cidr: vpcCidr }] });
    }
  });
});

describe('coverage, derived from the roles', () => {
  test('the roles were found and call AWS (the derivation is not vacuous)', () => {
    for (const [role, prefixes] of Object.entries(called)) {
      expect({ role, some: prefixes.length > 0 }).toEqual({ role, some: true });
    }
    // The worker's own services, from the table it is granted by.
    expect(called['data-processor']).toEqual(expect.arrayContaining(['sqs', 'dynamodb']));
  });

  test.each(Object.keys(called))('every service %s calls has an endpoint, or is named as going through NAT', (role) => {
    const uncovered = [...new Set(called[role])].filter((p) => !served.has(p) && !(p in SERVICES_THROUGH_NAT)).sort();
    expect(uncovered).toEqual([]);
  });

  test('each service named as going through NAT is really called, has no endpoint, and has a reason', () => {
    for (const [prefix, reason] of Object.entries(SERVICES_THROUGH_NAT)) {
      expect({ prefix, called: allCalled.has(prefix), endpoint: served.has(prefix), reason: reason.length > 40 }).toEqual({
        prefix,
        called: true,
        endpoint: false,
        reason: true,
      });
    }
  });

  test('the README names every service that goes through NAT', () => {
    const readme = readFileSync(join(PACKAGE_DIR, 'README.md'), 'utf8');
    const section = readme.split(/^## /m).find((s) => /^What still needs the NAT gateway/.test(s));
    expect(section).toBeDefined();
    for (const prefix of Object.keys(SERVICES_THROUGH_NAT)) {
      expect({ prefix, named: section!.includes(`\`${prefix}\``) }).toEqual({ prefix, named: true });
    }
  });

  test('pod identities get credentials through EKS Auth', () => {
    expect(resourcesOf('AWS::EKS::PodIdentityAssociation').length).toBeGreaterThan(0);
    expect(served.has('eks-auth')).toBe(true);
  });

  test('images from the stack repository come through ECR and S3', () => {
    expect(resourcesOf('AWS::ECR::Repository').length).toBeGreaterThan(0);
    expect(['ecr.api', 'ecr.dkr', 's3'].filter((s) => !served.has(s))).toEqual([]);
  });

  test('container logs shipped by the CloudWatch add-on go through CloudWatch Logs', () => {
    const addons = resourcesOf('AWS::EKS::Addon').map(([, a]) => a.Properties);
    const observability = addons.find((a) => a.AddonName === 'amazon-cloudwatch-observability');
    expect(JSON.parse(observability.ConfigurationValues).containerLogs.enabled).toBe(true);
    expect(served.has('logs')).toBe(true);
  });
});

describe('turned off', () => {
  test('the context value vpcInterfaceEndpoints is read as a boolean', () => {
    const config = (context: Record<string, string>) => readAppConfig(new App({ context }).node).props.vpcInterfaceEndpoints;
    expect(config({})).toBeUndefined();
    expect(config({ vpcInterfaceEndpoints: 'false' })).toBe(false);
    expect(() => config({ vpcInterfaceEndpoints: 'no' })).toThrow(/context value vpcInterfaceEndpoints: expected true or false/);
  });

  test('no interface endpoint and no endpoint security group; the gateway endpoints stay', () => {
    const stack = new Stack(new App(), 'NoInterfaceEndpoints');
    const cluster = new JobCluster(stack, 'Cluster', { clusterName: 'no-endpoints', privateEndpoint: true, interfaceEndpoints: false });
    const found = Object.values(Template.fromStack(stack).findResources('AWS::EC2::VPCEndpoint'));
    expect(found.map((e) => `${e.Properties.VpcEndpointType} ${serviceOf(e)}`).sort()).toEqual(['Gateway dynamodb', 'Gateway s3']);
    expect(cluster.endpoints.securityGroup).toBeUndefined();
    expect(cluster.endpoints.interfaceEndpoints).toEqual({});
  });
});
