/**
 * The cdk-nag AwsSolutions findings this app accepts, each on the narrowest
 * construct and with the reason. Anything not listed here fails synth.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** One acknowledgment: the construct path under the stack, the rule (or rule[finding]) and why. */
export interface NagAcknowledgment {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

const managed = (policy: string) => `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`;
const NODE_POLICIES =
  'the policies EKS documents for worker nodes: the kubelet registers the node (AmazonEKSWorkerNodePolicy), the VPC CNI ' +
  'assigns pod IPs (AmazonEKS_CNI_Policy), images are pulled from ECR';
const KUBECTL_PROVIDER =
  "aws-cdk-lib's kubectl provider (eks-v2), which applies Helm charts and manifests at deploy time; its roles and runtime are " +
  'set by the library and not configurable here';

const ec2 = (type: string, account = '<AWS::AccountId>') => `arn:<AWS::Partition>:ec2:<AWS::Region>:${account}:${type}/*`;
const LAUNCHED =
  'ids of what Karpenter launches are unknown before launch; the statements allow it only with tags naming this cluster ' +
  '(kubernetes.io/cluster/<name> = owned, eks:eks-cluster-name) and a node pool, and deletion only of resources so tagged';
/** Each wildcard resource of the Karpenter controller policy, and why it cannot be narrower. */
const KARPENTER_WILDCARDS: [string, string][] = [
  [
    '*',
    'EC2 Describe* (limited to this region by aws:RequestedRegion), pricing:GetProducts and iam:ListInstanceProfiles support no resource-level permissions; arc-zonal-shift:GetManagedResource is limited to this cluster by its ResourceIdentifier condition',
  ],
  [ec2('image', ''), 'launches use AWS public Bottlerocket AMIs, whose ids change with every release'],
  [ec2('snapshot', ''), 'the snapshots behind those public AMIs'],
  [ec2('security-group'), 'security groups are chosen at run time by the EC2NodeClass discovery tag'],
  [ec2('subnet'), 'subnets are chosen at run time by the EC2NodeClass discovery tag'],
  [ec2('capacity-reservation'), 'capacity reservations an EC2NodeClass selects are chosen at run time by its selector terms'],
  [ec2('placement-group'), 'placement groups an EC2NodeClass selects are chosen at run time by its selector terms'],
  ...['fleet', 'instance', 'volume', 'network-interface', 'launch-template', 'spot-instances-request'].map(
    (type): [string, string] => [ec2(type), LAUNCHED],
  ),
  [
    'arn:<AWS::Partition>:iam::<AWS::AccountId>:instance-profile/*',
    'Karpenter creates one instance profile per EC2NodeClass under a generated name; creating, tagging, changing and deleting are allowed only with tags naming this cluster, this region and a node class',
  ],
  ['arn:<AWS::Partition>:ssm:<AWS::Region>::parameter/aws/service/*', 'reads only the public AWS parameters that publish AMI ids'],
];

/**
 * The acknowledgments of a jobs stack whose schedule group is `scheduleGroup` (the stack's
 * name: the group's schedules are the wildcard resource of two Lambda policies).
 */
export function nagAcknowledgments(scheduleGroup: string): NagAcknowledgment[] {
  const groupSchedules = `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${scheduleGroup}/*]`;
  return [
    // Lambdas
    {
      path: 'SchedulesApi/Role/DefaultPolicy/Resource',
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'scheduler:ListSchedules supports no resource-level permissions, so "*" is the only resource IAM accepts for it; the code lists only the project group',
    },
    {
      path: 'SchedulesApi/Role/DefaultPolicy/Resource',
      id: groupSchedules,
      reason: 'schedule names are chosen by API callers at run time; the wildcard covers only schedules of the project schedule group',
    },
    {
      path: 'Reconciler/Function/Role/DefaultPolicy/Resource',
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'scheduler:ListSchedules (to count missed runs) supports no resource-level permissions, so "*" is the only resource IAM accepts for it; the code lists only the project group',
    },
    {
      path: 'Reconciler/Function/Role/DefaultPolicy/Resource',
      id: groupSchedules,
      reason: 'the reconciler reads every schedule of the project schedule group (GetSchedule) to count missed runs; their names are chosen by API callers',
    },
    // Queues
    {
      path: 'Queues/ScheduleDeadLetterQueue/Resource',
      id: 'AwsSolutions-SQS3',
      reason: 'this queue is itself a dead-letter queue: EventBridge Scheduler puts undeliverable schedule runs there (a Scheduler DLQ, not an SQS redrive, so cdk-nag cannot see it)',
    },
    {
      path: 'Karpenter/InterruptionQueue/Resource',
      id: 'AwsSolutions-SQS3',
      reason: 'interruption notices are useful for minutes only (5-minute retention, as Karpenter recommends); a notice Karpenter cannot handle is superseded by the next one, so a DLQ would hold only stale events',
    },
    // EKS control plane and nodes
    {
      path: 'Cluster/Cluster/Role/Resource',
      id: managed('AmazonEKSClusterPolicy'),
      reason: 'the service role of an EKS cluster must carry AmazonEKSClusterPolicy; EKS documents no narrower replacement',
    },
    ...['AmazonEKSWorkerNodePolicy', 'AmazonEKS_CNI_Policy', 'AmazonEC2ContainerRegistryReadOnly'].map((policy) => ({
      path: 'Cluster/Cluster/NodegroupSystem/NodeGroupRole/Resource',
      id: managed(policy),
      reason: `system node group role (created by aws-cdk-lib): ${NODE_POLICIES}`,
    })),
    ...['AmazonEKSWorkerNodePolicy', 'AmazonEKS_CNI_Policy', 'AmazonEC2ContainerRegistryPullOnly', 'AmazonSSMManagedInstanceCore'].map(
      (policy) => ({
        path: 'Karpenter/NodeRole/Resource',
        id: managed(policy),
        reason: `Karpenter node role, exactly Karpenter's reference node role: ${NODE_POLICIES} (pull only); SSM for the Bottlerocket control container`,
      }),
    ),
    {
      path: 'Cluster/CloudWatchAgentIdentity/Role/Resource',
      id: managed('CloudWatchAgentServerPolicy'),
      reason: 'the policy AWS documents for the amazon-cloudwatch-observability add-on (CloudWatch agent and Fluent Bit put metrics and log events)',
    },
    ...KARPENTER_WILDCARDS.map(([resource, reason]) => ({
      path: 'Karpenter/ControllerPolicy/Resource',
      id: `AwsSolutions-IAM5[Resource::${resource}]`,
      reason: `Karpenter's reference controller policy: ${reason}`,
    })),
    // aws-cdk-lib's kubectl provider
    { path: 'Cluster/Cluster/KubectlProvider/Handler/Resource', id: 'AwsSolutions-L1', reason: `${KUBECTL_PROVIDER}` },
    ...[
      managed('service-role/AWSLambdaBasicExecutionRole'),
      managed('service-role/AWSLambdaVPCAccessExecutionRole'),
      managed('AmazonEC2ContainerRegistryReadOnly'),
      'AwsSolutions-IAM4[Policy::{"Fn::If":["ClusterKubectlProviderHandlerHasEcrPublic6FE395CA",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]',
    ].map((id) => ({ path: 'Cluster/Cluster/KubectlProvider/Handler/ServiceRole/Resource', id, reason: KUBECTL_PROVIDER })),
    ...[managed('service-role/AWSLambdaBasicExecutionRole'), managed('service-role/AWSLambdaVPCAccessExecutionRole')].map((id) => ({
      path: 'Cluster/Cluster/KubectlProvider/Provider/framework-onEvent/ServiceRole/Resource',
      id,
      reason: KUBECTL_PROVIDER,
    })),
    {
      path: 'Cluster/Cluster/KubectlProvider/Provider/framework-onEvent/ServiceRole/DefaultPolicy/Resource',
      id: 'AwsSolutions-IAM5[Resource::<ClusterKubectlProviderHandler93C0312D.Arn>:*]',
      reason: `${KUBECTL_PROVIDER}: the provider framework may invoke any version of the kubectl handler function, nothing else`,
    },
    // CloudFormation validation (a warning)
    {
      path: 'Cluster/Cluster/Resource',
      id: 'CloudFormation-Validate::W9009',
      reason: 'aws-cdk-lib writes EncryptionConfig.Resources = ["secrets"] for envelope encryption of Kubernetes secrets; the property is still what EKS reads',
    },
  ];
}

/**
 * Why the API's public routes need no authorizer (they exist only under the JWT
 * authorizer; under IAM every route is signed).
 */
export const PUBLIC_ROUTE_REASON =
  'the status page and its assets (public in settings/permissions.json): a browser loads them before it has a token, they hold no ' +
  'data, and every API route they call still needs a token with its scope';

/** Acknowledges AwsSolutions-APIG4 (no authorization) on each of `routes`: the API's public routes. */
export function acknowledgePublicRoutes(routes: IConstruct[]): void {
  for (const route of routes) {
    Validations.of(route.node.defaultChild ?? route).acknowledge({ id: 'AwsSolutions-APIG4', reason: PUBLIC_ROUTE_REASON });
  }
}

/** Records every acknowledgment on its construct; fails if a path no longer exists. */
export function acknowledgeFindings(stack: Stack, acknowledgments: NagAcknowledgment[] = nagAcknowledgments(stack.stackName)): void {
  for (const ack of acknowledgments) {
    const target = findPath(stack, ack.path);
    if (!target) {
      throw new Error(`cdk-nag acknowledgment for ${ack.id} names ${ack.path}, which is not in the stack`);
    }
    Validations.of(target).acknowledge({ id: ack.id, reason: ack.reason });
  }
}

function findPath(root: IConstruct, path: string): IConstruct | undefined {
  let node: IConstruct | undefined = root;
  for (const part of path.split('/')) {
    node = node?.node.tryFindChild(part);
  }
  return node;
}
