/**
 * The cluster VPC's endpoints, so that what the worker pods, the nodes, KEDA and
 * Karpenter send to AWS stays inside the VPC: gateway endpoints for DynamoDB and S3
 * (free; S3 also serves ECR's image layers) and, unless turned off, interface
 * endpoints with private DNS in the private subnets for the other services they
 * call. What has no endpoint here still goes through the NAT gateway:
 * {@link SERVICES_THROUGH_NAT}.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

/**
 * The interface endpoints, by endpoint service name (`com.amazonaws.<region>.<name>`),
 * and who calls each.
 */
export const INTERFACE_ENDPOINTS: Readonly<Record<string, { service: ec2.InterfaceVpcEndpointAwsService; callers: string }>> = {
  sqs: { service: ec2.InterfaceVpcEndpointAwsService.SQS, callers: 'the workers (the job queue), KEDA (queue depth), Karpenter (its interruption queue)' },
  'ecr.api': { service: ec2.InterfaceVpcEndpointAwsService.ECR, callers: 'the nodes: image pull authorization and manifests (worker image, EKS add-on images)' },
  'ecr.dkr': { service: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER, callers: 'the nodes: the registry API of image pulls (layers then come from S3)' },
  sts: { service: ec2.InterfaceVpcEndpointAwsService.STS, callers: 'SDKs that assume a role (KEDA with a role ARN in its TriggerAuthentication, the AWS CLI)' },
  'eks-auth': { service: ec2.InterfaceVpcEndpointAwsService.EKS_AUTH, callers: "the EKS Pod Identity agent: every pod identity's credentials (workers, KEDA, Karpenter, CloudWatch agent)" },
  ec2: { service: ec2.InterfaceVpcEndpointAwsService.EC2, callers: 'Karpenter (launch, describe, terminate), the VPC CNI on each node (network interfaces, addresses)' },
  ssm: { service: ec2.InterfaceVpcEndpointAwsService.SSM, callers: "Karpenter (the pinned Bottlerocket AMI's public parameter), the nodes' SSM agent" },
  logs: { service: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS, callers: "the CloudWatch observability add-on's Fluent Bit (container logs) and agent" },
  eks: { service: ec2.InterfaceVpcEndpointAwsService.EKS, callers: "Karpenter (eks:DescribeCluster, the API server's endpoint), the kubectl handler" },
};

/**
 * IAM service prefixes that the workers, KEDA or Karpenter call and that get no
 * endpoint here: their traffic needs the NAT gateway (infra-cdk/README.md says so).
 */
export const SERVICES_THROUGH_NAT: Readonly<Record<string, string>> = {
  pricing:
    "Karpenter's Price List API calls (pricing:GetProducts): the API's endpoint exists in only a few regions, so Karpenter calls it there over the internet (without it, Karpenter uses the prices built into its release)",
  iam: "Karpenter's instance profile calls: IAM's API is global (one endpoint for all regions), with no regional interface endpoint to make here",
  'arc-zonal-shift':
    "Karpenter's zonal shift status read (arc-zonal-shift:GetManagedResource), a rare small call: no endpoint is made for it here (aws-cdk-lib names none)",
};

/** Props of {@link VpcEndpoints}. */
export interface VpcEndpointsProps {
  readonly vpc: ec2.IVpc;
  /**
   * Create the interface endpoints ({@link INTERFACE_ENDPOINTS}). Each costs an hourly
   * fee per Availability Zone plus a small fee per GB (about 0.01 USD an hour per AZ in
   * most regions: the nine endpoints in two AZs come to roughly 130 USD a month), in
   * exchange for traffic that never leaves the VPC and is not billed per GB by the NAT
   * gateway (several times the endpoints' per-GB fee). Off, the same calls go through
   * the NAT gateway and everything works as before. The free gateway endpoints
   * (DynamoDB, S3) are made either way. @default true
   */
  readonly interfaceEndpoints?: boolean;
  /**
   * The CIDR block the interface endpoints admit HTTPS from, as a literal when known
   * (cdk-nag can check a literal, not the VPC's `CidrBlock` attribute).
   * @default the VPC's CIDR block (`vpc.vpcCidrBlock`)
   */
  readonly clientCidr?: string;
  /** Where the interface endpoints' network interfaces go. @default the private subnets, one per AZ */
  readonly subnets?: ec2.SubnetSelection;
}

export class VpcEndpoints extends Construct {
  /** The gateway endpoints, by service (`dynamodb`, `s3`). */
  public readonly gatewayEndpoints: Readonly<Record<string, ec2.GatewayVpcEndpoint>>;
  /** The interface endpoints, by endpoint service name; empty when turned off. */
  public readonly interfaceEndpoints: Readonly<Record<string, ec2.InterfaceVpcEndpoint>>;
  /** The interface endpoints' security group (HTTPS from the VPC's CIDR), when they exist. */
  public readonly securityGroup?: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: VpcEndpointsProps) {
    super(scope, id);
    const vpc = props.vpc;
    // Children of the VPC under the ids they had as the VPC's own gatewayEndpoints, so an
    // existing stack keeps them (no replacement).
    this.gatewayEndpoints = {
      s3: vpc.addGatewayEndpoint('s3', { service: ec2.GatewayVpcEndpointAwsService.S3 }),
      dynamodb: vpc.addGatewayEndpoint('dynamodb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB }),
    };

    const interfaces: Record<string, ec2.InterfaceVpcEndpoint> = {};
    if (props.interfaceEndpoints ?? true) {
      this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc,
        description: 'Interface VPC endpoints: HTTPS from inside the VPC',
        allowAllOutbound: false,
      });
      this.securityGroup.addIngressRule(ec2.Peer.ipv4(props.clientCidr ?? vpc.vpcCidrBlock), ec2.Port.tcp(443), 'HTTPS from the VPC');
      const subnets = props.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
      for (const [name, { service }] of Object.entries(INTERFACE_ENDPOINTS)) {
        interfaces[name] = new ec2.InterfaceVpcEndpoint(this, endpointId(name), {
          vpc,
          service,
          subnets,
          privateDnsEnabled: true,
          securityGroups: [this.securityGroup],
          // The security group above already admits the VPC; no rule per endpoint.
          open: false,
        });
      }
    }
    this.interfaceEndpoints = interfaces;
  }
}

/** `ecr.dkr` -> `EcrDkr`: a construct id from an endpoint service name. */
function endpointId(name: string): string {
  return name
    .split(/[.-]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
