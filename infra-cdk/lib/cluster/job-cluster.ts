/**
 * The EKS cluster: its VPC, a small Graviton managed node group for the system
 * pods (CoreDNS, KEDA, Karpenter: Karpenter must not run on nodes it manages),
 * the EKS Pod Identity agent, the VPC CNI with network policy enforcement (the
 * chart's NetworkPolicy), and the CloudWatch observability add-on that ships
 * container logs. Subnets and a node security group carry the
 * `karpenter.sh/discovery` tag the chart's EC2NodeClass selects by; the VPC's
 * endpoints keep the cluster's AWS calls inside it (`VpcEndpoints`).
 */
import { Duration, RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import { CfnAddon } from 'aws-cdk-lib/aws-eks';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { KubectlV35Layer } from '@aws-cdk/lambda-layer-kubectl-v35';
import { Construct } from 'constructs';
import { PodIdentityRole } from './pod-identity-role';
import { VpcEndpoints } from './vpc-endpoints';

/** The tag key Karpenter's EC2NodeClass selects subnets and security groups by. */
export const DISCOVERY_TAG = 'karpenter.sh/discovery';

/** The VPC's address range (aws-cdk-lib's default, spelled out so rules can name it as a literal). */
export const VPC_CIDR = '10.0.0.0/16';

/** Props of {@link JobCluster}. */
export interface JobClusterProps {
  /** Cluster name: a literal, since IAM conditions and discovery tags carry it. */
  readonly clusterName: string;
  /**
   * NAT gateways for the private subnets (0 is not enough: public images, Helm charts
   * and a few AWS APIs have no endpoint in the VPC; see `SERVICES_THROUGH_NAT`). @default 1
   */
  readonly natGateways?: number;
  /**
   * Interface VPC endpoints for the AWS services the workers, nodes, KEDA and Karpenter
   * call (`VpcEndpointsProps.interfaceEndpoints`, where the hourly cost is): off, that
   * traffic goes through the NAT gateway instead. @default true
   */
  readonly interfaceEndpoints?: boolean;
  /** Instance type of the system nodes (Graviton). @default t4g.medium */
  readonly systemInstanceType?: string;
  /** How many system nodes. @default 2 */
  readonly systemNodes?: number;
  /**
   * CIDR blocks that may reach the cluster's API endpoint from outside the VPC. The
   * endpoint is closed by default: name these, or set {@link privateEndpoint}.
   */
  readonly publicEndpointCidrs?: string[];
  /** An API endpoint reachable only from inside the VPC (kubectl through a VPN or bastion). @default false */
  readonly privateEndpoint?: boolean;
  /** IAM role ARN given cluster-admin through an access entry (for kubectl). @default none */
  readonly adminRoleArn?: string;
  /** Retention of the VPC flow logs and container logs. @default one month */
  readonly logRetention?: logs.RetentionDays;
}

export class JobCluster extends Construct {
  public readonly vpc: ec2.Vpc;
  /** The VPC's gateway and interface endpoints. */
  public readonly endpoints: VpcEndpoints;
  public readonly cluster: eks.Cluster;
  public readonly clusterName: string;
  /** Security group of the Karpenter-launched job nodes (tagged for discovery). */
  public readonly jobNodeSecurityGroup: ec2.SecurityGroup;
  /** Where the worker's container logs land (Fluent Bit of the CloudWatch add-on). */
  public readonly applicationLogGroup: logs.LogGroup;
  /** The system node group (KEDA and Karpenter run there). */
  public readonly systemNodes: eks.Nodegroup;
  /** The Pod Identity agent add-on; associations work once it runs. */
  public readonly podIdentityAgent: eks.IAddon;

  constructor(scope: Construct, id: string, props: JobClusterProps) {
    super(scope, id);
    this.clusterName = props.clusterName;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 19 },
      ],
      flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs) } },
    });
    for (const subnet of this.vpc.privateSubnets) {
      Tags.of(subnet).add(DISCOVERY_TAG, props.clusterName);
    }
    this.endpoints = new VpcEndpoints(this, 'Endpoints', {
      vpc: this.vpc,
      clientCidr: VPC_CIDR,
      interfaceEndpoints: props.interfaceEndpoints,
    });

    const secretsKey = new kms.Key(this, 'SecretsKey', {
      description: `Envelope encryption of Kubernetes secrets in ${props.clusterName}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const endpointAccess = clusterEndpoint(props.publicEndpointCidrs, props.privateEndpoint);
    this.cluster = new eks.Cluster(this, 'Cluster', {
      clusterName: props.clusterName,
      version: eks.KubernetesVersion.V1_35,
      vpc: this.vpc,
      vpcSubnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
      endpointAccess,
      // Nodes come from the node group below and from Karpenter, not EKS Auto Mode.
      defaultCapacityType: eks.DefaultCapacityType.NODEGROUP,
      defaultCapacity: 0,
      kubectlProviderOptions: { kubectlLayer: new KubectlV35Layer(this, 'KubectlLayer') },
      clusterLogging: [
        eks.ClusterLoggingTypes.API,
        eks.ClusterLoggingTypes.AUDIT,
        eks.ClusterLoggingTypes.AUTHENTICATOR,
        eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
        eks.ClusterLoggingTypes.SCHEDULER,
      ],
      secretsEncryptionKey: secretsKey,
    });
    if (props.adminRoleArn) {
      this.cluster.grantAccess('Admin', props.adminRoleArn, [
        eks.AccessPolicy.fromAccessPolicyName('AmazonEKSClusterAdminPolicy', {
          accessScopeType: eks.AccessScopeType.CLUSTER,
        }),
      ]);
    }

    const systemNodes = this.cluster.addNodegroupCapacity('System', {
      instanceTypes: [new ec2.InstanceType(props.systemInstanceType ?? 't4g.medium')],
      amiType: eks.NodegroupAmiType.BOTTLEROCKET_ARM_64,
      minSize: props.systemNodes ?? 2,
      desiredSize: props.systemNodes ?? 2,
      maxSize: (props.systemNodes ?? 2) + 1,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      labels: { 'jobs-api/node-role': 'system' },
    });

    this.systemNodes = systemNodes;
    this.podIdentityAgent = this.cluster.eksPodIdentityAgent!;

    // The VPC CNI as a managed add-on, so the chart's NetworkPolicy is enforced.
    const vpcCni = new CfnAddon(this, 'VpcCni', {
      clusterName: this.cluster.clusterName,
      addonName: 'vpc-cni',
      resolveConflicts: 'OVERWRITE',
      configurationValues: JSON.stringify({ enableNetworkPolicy: 'true' }),
    });
    vpcCni.node.addDependency(systemNodes);

    // Job nodes: their own security group, open to the control plane and the system nodes.
    this.jobNodeSecurityGroup = new ec2.SecurityGroup(this, 'JobNodeSecurityGroup', {
      vpc: this.vpc,
      description: `Karpenter job nodes of ${props.clusterName}`,
      allowAllOutbound: true,
    });
    Tags.of(this.jobNodeSecurityGroup).add(DISCOVERY_TAG, props.clusterName);
    this.jobNodeSecurityGroup.addIngressRule(this.jobNodeSecurityGroup, ec2.Port.allTraffic(), 'job nodes among themselves');
    this.jobNodeSecurityGroup.connections.allowFrom(
      this.cluster.clusterSecurityGroup,
      ec2.Port.allTraffic(),
      'control plane and system nodes to job nodes',
    );
    this.cluster.clusterSecurityGroup.connections.allowFrom(
      this.jobNodeSecurityGroup,
      ec2.Port.allTraffic(),
      'job nodes to the control plane and system nodes',
    );

    // Container logs to CloudWatch Logs: the log group is created here, with retention,
    // before the add-on's Fluent Bit would create it without.
    this.applicationLogGroup = new logs.LogGroup(this, 'ApplicationLogs', {
      logGroupName: `/aws/containerinsights/${props.clusterName}/application`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const agent = new PodIdentityRole(this, 'CloudWatchAgentIdentity', {
      cluster: this.cluster,
      clusterName: props.clusterName,
      namespace: 'amazon-cloudwatch',
      serviceAccount: 'cloudwatch-agent',
      description: 'CloudWatch agent and Fluent Bit of the amazon-cloudwatch-observability add-on',
    });
    agent.role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('CloudWatchAgentServerPolicy'));
    const observability = new CfnAddon(this, 'CloudWatchObservability', {
      clusterName: this.cluster.clusterName,
      addonName: 'amazon-cloudwatch-observability',
      resolveConflicts: 'OVERWRITE',
      configurationValues: JSON.stringify({ containerLogs: { enabled: true } }),
    });
    observability.node.addDependency(agent.association);
    observability.node.addDependency(this.applicationLogGroup, this.podIdentityAgent, systemNodes);
  }
}

/** A CIDR block: IPv4 or IPv6 address and prefix length. */
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

/**
 * The API endpoint's access: public only from the CIDRs the user names (nodes and
 * the kubectl handler use the private endpoint), or private only. Neither named is
 * an error: an endpoint open to the internet is never a default.
 */
export function clusterEndpoint(publicCidrs: string[] | undefined, privateOnly: boolean | undefined): eks.EndpointAccess {
  if (privateOnly && publicCidrs?.length) {
    throw new Error('clusterEndpointPrivate=true and clusterPublicEndpointCidrs exclude each other: choose one');
  }
  if (privateOnly) return eks.EndpointAccess.PRIVATE;
  if (!publicCidrs?.length) {
    throw new Error(
      'the EKS API endpoint is closed by default: set the context value clusterPublicEndpointCidrs to the CIDR blocks ' +
        'that may reach it (e.g. -c clusterPublicEndpointCidrs=203.0.113.10/32), or clusterEndpointPrivate=true for an ' +
        'endpoint reachable only from inside the VPC',
    );
  }
  const bad = publicCidrs.filter((c) => !CIDR.test(c));
  if (bad.length) throw new Error(`clusterPublicEndpointCidrs: not CIDR blocks: ${bad.join(', ')}`);
  return eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(...publicCidrs);
}
