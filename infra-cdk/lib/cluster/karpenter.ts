/**
 * Karpenter v1 on the cluster: the node role (with an EC2_LINUX access entry;
 * Karpenter makes the instance profiles itself from the EC2NodeClass's role),
 * the interruption queue and the EventBridge rules that feed it, the
 * controller's IAM policy scoped by the cluster's tags as Karpenter's own
 * reference policy does, its pod identity, and the Helm release.
 */
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PodIdentityRole } from './pod-identity-role';

/** The Karpenter release; its CRDs are the ones the cdk8s chart is checked against. */
export const KARPENTER_VERSION = '1.14.1';
/** Namespace and service account of the controller. */
export const KARPENTER_NAMESPACE = 'kube-system';
export const KARPENTER_SERVICE_ACCOUNT = 'karpenter';

/** Props of {@link Karpenter}. */
export interface KarpenterProps {
  readonly cluster: eks.Cluster;
  /** The cluster's name, as a literal (IAM condition keys carry it). */
  readonly clusterName: string;
  /** Must run before the controller starts (credentials come from it). */
  readonly podIdentityAgent: eks.IAddon;
  /** The system nodes the controller runs on. */
  readonly systemNodes: eks.Nodegroup;
}

export class Karpenter extends Construct {
  /** Role of the nodes Karpenter launches (the EC2NodeClass's `role`). */
  public readonly nodeRole: iam.Role;
  public readonly interruptionQueue: sqs.Queue;
  public readonly controller: PodIdentityRole;
  public readonly chart: eks.HelmChart;

  constructor(scope: Construct, id: string, props: KarpenterProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const name = props.clusterName;

    this.nodeRole = new iam.Role(this, 'NodeRole', {
      description: `Nodes Karpenter launches for ${name}`,
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [
        'AmazonEKSWorkerNodePolicy',
        'AmazonEKS_CNI_Policy',
        'AmazonEC2ContainerRegistryPullOnly',
        'AmazonSSMManagedInstanceCore',
      ].map((policy) => iam.ManagedPolicy.fromAwsManagedPolicyName(policy)),
    });
    new eks.AccessEntry(this, 'NodeAccess', {
      cluster: props.cluster,
      principal: this.nodeRole.roleArn,
      accessEntryType: eks.AccessEntryType.EC2_LINUX,
      accessPolicies: [],
    });

    this.interruptionQueue = new sqs.Queue(this, 'InterruptionQueue', {
      retentionPeriod: Duration.minutes(5),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const rules: [string, events.EventPattern][] = [
      ['ScheduledChange', { source: ['aws.health'], detailType: ['AWS Health Event'] }],
      ['SpotInterruption', { source: ['aws.ec2'], detailType: ['EC2 Spot Instance Interruption Warning'] }],
      ['Rebalance', { source: ['aws.ec2'], detailType: ['EC2 Instance Rebalance Recommendation'] }],
      ['InstanceStateChange', { source: ['aws.ec2'], detailType: ['EC2 Instance State-change Notification'] }],
    ];
    for (const [ruleId, eventPattern] of rules) {
      new events.Rule(this, `${ruleId}Rule`, {
        description: `Karpenter interruption handling for ${name}: ${eventPattern.detailType![0]}`,
        eventPattern,
        targets: [new targets.SqsQueue(this.interruptionQueue)],
      });
    }

    this.controller = new PodIdentityRole(this, 'ControllerIdentity', {
      cluster: props.cluster,
      clusterName: name,
      namespace: KARPENTER_NAMESPACE,
      serviceAccount: KARPENTER_SERVICE_ACCOUNT,
      description: `Karpenter controller of ${name}`,
    });
    this.controller.role.attachInlinePolicy(
      new iam.Policy(this, 'ControllerPolicy', {
        document: controllerPolicy(name, this.nodeRole, this.interruptionQueue, stack),
      }),
    );

    this.chart = props.cluster.addHelmChart('Karpenter', {
      chart: 'karpenter',
      repository: 'oci://public.ecr.aws/karpenter/karpenter',
      version: KARPENTER_VERSION,
      release: 'karpenter',
      namespace: KARPENTER_NAMESPACE,
      wait: true,
      values: {
        settings: { clusterName: name, interruptionQueue: this.interruptionQueue.queueName },
        serviceAccount: { name: KARPENTER_SERVICE_ACCOUNT },
        // The chart's default affinity already keeps the controller off Karpenter's nodes.
        nodeSelector: { 'jobs-api/node-role': 'system' },
        controller: { resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '512Mi' } } },
      },
    });
    this.chart.node.addDependency(this.controller.association, props.podIdentityAgent, props.systemNodes);
  }
}

/**
 * The controller's permissions, Karpenter's reference policy for the pinned release
 * (test/karpenter-policy.test.ts compares them statement by statement):
 * launching and tagging only resources tagged for this cluster and a node pool,
 * deleting only those, passing only the node role to EC2, managing only the
 * instance profiles it tags, reading its interruption queue.
 */
function controllerPolicy(name: string, nodeRole: iam.IRole, queue: sqs.IQueue, stack: Stack): iam.PolicyDocument {
  const region = Aws.REGION;
  const ec2 = (type: string, account: string = Aws.ACCOUNT_ID) =>
    `arn:${Aws.PARTITION}:ec2:${region}:${account}:${type}/*`;
  const clusterTag = `kubernetes.io/cluster/${name}`;
  const launched = ['fleet', 'instance', 'volume', 'network-interface', 'launch-template', 'spot-instances-request'].map(
    (t) => ec2(t),
  );
  const instanceProfiles = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:instance-profile/*`;
  const clusterArn = stack.formatArn({ service: 'eks', resource: 'cluster', resourceName: name });
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'AllowScopedEC2InstanceAccessActions',
        actions: ['ec2:RunInstances', 'ec2:CreateFleet'],
        // Public AMIs and their snapshots belong to no account of ours: the account field is empty.
        resources: [
          ec2('image', ''),
          ec2('snapshot', ''),
          ec2('security-group'),
          ec2('subnet'),
          // On-demand capacity reservations and placement groups an EC2NodeClass may select.
          ec2('capacity-reservation'),
          ec2('placement-group'),
        ],
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedEC2LaunchTemplateAccessActions',
        actions: ['ec2:RunInstances', 'ec2:CreateFleet'],
        resources: [ec2('launch-template')],
        conditions: {
          StringEquals: { [`aws:ResourceTag/${clusterTag}`]: 'owned' },
          StringLike: { 'aws:ResourceTag/karpenter.sh/nodepool': '*' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedEC2InstanceActionsWithTags',
        actions: ['ec2:RunInstances', 'ec2:CreateFleet', 'ec2:CreateLaunchTemplate'],
        resources: launched,
        conditions: {
          StringEquals: { [`aws:RequestTag/${clusterTag}`]: 'owned', 'aws:RequestTag/eks:eks-cluster-name': name },
          StringLike: { 'aws:RequestTag/karpenter.sh/nodepool': '*' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedResourceCreationTagging',
        actions: ['ec2:CreateTags'],
        resources: launched,
        conditions: {
          StringEquals: {
            [`aws:RequestTag/${clusterTag}`]: 'owned',
            'aws:RequestTag/eks:eks-cluster-name': name,
            'ec2:CreateAction': ['RunInstances', 'CreateFleet', 'CreateLaunchTemplate'],
          },
          StringLike: { 'aws:RequestTag/karpenter.sh/nodepool': '*' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedResourceTagging',
        actions: ['ec2:CreateTags'],
        resources: [ec2('instance')],
        conditions: {
          StringEquals: { [`aws:ResourceTag/${clusterTag}`]: 'owned' },
          StringLike: { 'aws:ResourceTag/karpenter.sh/nodepool': '*' },
          StringEqualsIfExists: { 'aws:RequestTag/eks:eks-cluster-name': name },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['eks:eks-cluster-name', 'karpenter.sh/nodeclaim', 'Name'] },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedDeletion',
        actions: ['ec2:TerminateInstances', 'ec2:DeleteLaunchTemplate'],
        resources: [ec2('instance'), ec2('launch-template')],
        conditions: {
          StringEquals: { [`aws:ResourceTag/${clusterTag}`]: 'owned' },
          StringLike: { 'aws:ResourceTag/karpenter.sh/nodepool': '*' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowRegionalReadActions',
        actions: [
          'ec2:DescribeCapacityReservations',
          'ec2:DescribeImages',
          'ec2:DescribeInstances',
          'ec2:DescribeInstanceStatus',
          'ec2:DescribeInstanceTypeOfferings',
          'ec2:DescribeInstanceTypes',
          'ec2:DescribeLaunchTemplates',
          'ec2:DescribePlacementGroups',
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeSpotPriceHistory',
          'ec2:DescribeSubnets',
        ],
        // EC2 Describe* actions support no resource-level permissions: "*" is the only
        // resource IAM accepts for them; the region condition narrows them instead.
        resources: ['*'],
        conditions: { StringEquals: { 'aws:RequestedRegion': region } },
      }),
      new iam.PolicyStatement({
        sid: 'AllowSSMReadActions',
        actions: ['ssm:GetParameter'],
        // AMI ids are published under AWS's public parameter path.
        resources: [`arn:${Aws.PARTITION}:ssm:${region}::parameter/aws/service/*`],
      }),
      new iam.PolicyStatement({
        sid: 'AllowPricingReadActions',
        actions: ['pricing:GetProducts'],
        // The Price List API has no resources to scope to: "*" is required.
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'AllowInterruptionQueueActions',
        actions: ['sqs:DeleteMessage', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
        resources: [queue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'AllowPassingInstanceRole',
        actions: ['iam:PassRole'],
        resources: [nodeRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': `ec2.${Aws.URL_SUFFIX}` } },
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedInstanceProfileCreationActions',
        actions: ['iam:CreateInstanceProfile'],
        resources: [instanceProfiles],
        conditions: {
          StringEquals: {
            [`aws:RequestTag/${clusterTag}`]: 'owned',
            'aws:RequestTag/eks:eks-cluster-name': name,
            'aws:RequestTag/topology.kubernetes.io/region': region,
          },
          StringLike: { 'aws:RequestTag/karpenter.k8s.aws/ec2nodeclass': '*' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedInstanceProfileTagActions',
        actions: ['iam:TagInstanceProfile'],
        resources: [instanceProfiles],
        conditions: {
          StringEquals: {
            [`aws:ResourceTag/${clusterTag}`]: 'owned',
            'aws:ResourceTag/topology.kubernetes.io/region': region,
            [`aws:RequestTag/${clusterTag}`]: 'owned',
            'aws:RequestTag/eks:eks-cluster-name': name,
            'aws:RequestTag/topology.kubernetes.io/region': region,
          },
          StringLike: {
            'aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass': '*',
            'aws:RequestTag/karpenter.k8s.aws/ec2nodeclass': '*',
          },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowScopedInstanceProfileActions',
        actions: ['iam:AddRoleToInstanceProfile', 'iam:RemoveRoleFromInstanceProfile', 'iam:DeleteInstanceProfile'],
        resources: [instanceProfiles],
        conditions: {
          StringEquals: {
            [`aws:ResourceTag/${clusterTag}`]: 'owned',
            'aws:ResourceTag/topology.kubernetes.io/region': region,
          },
          StringLike: { 'aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass': '*' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'AllowUnscopedInstanceProfileListAction',
        actions: ['iam:ListInstanceProfiles'],
        // ListInstanceProfiles supports no resource-level permissions.
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'AllowInstanceProfileReadActions',
        actions: ['iam:GetInstanceProfile'],
        resources: [instanceProfiles],
      }),
      new iam.PolicyStatement({
        sid: 'AllowAPIServerEndpointDiscovery',
        actions: ['eks:DescribeCluster'],
        resources: [clusterArn],
      }),
      new iam.PolicyStatement({
        sid: 'AllowZonalShiftStatusReadOnly',
        actions: ['arc-zonal-shift:GetManagedResource'],
        // Scoped by the condition: the action takes no resource ARN.
        resources: ['*'],
        conditions: { StringEquals: { 'arc-zonal-shift:ResourceIdentifier': clusterArn } },
      }),
    ],
  });
}
