/**
 * Karpenter EC2NodeClass for the job nodes: the pinned Bottlerocket AMI,
 * subnets and security groups found by the cluster's discovery tag, the node
 * IAM role, IMDSv2 only with a hop limit that keeps pods off the instance
 * metadata service, and encrypted volumes.
 */
import { Construct } from 'constructs';
import {
  Ec2NodeClass,
  Ec2NodeClassSpecBlockDeviceMappingsEbsVolumeType as VolumeType,
  Ec2NodeClassSpecMetadataOptionsHttpEndpoint as HttpEndpoint,
  Ec2NodeClassSpecMetadataOptionsHttpProtocolIPv6 as HttpProtocolIPv6,
  Ec2NodeClassSpecMetadataOptionsHttpTokens as HttpTokens,
} from '../imports/karpenter.k8s.aws';
import { isUnresolvedToken } from './image';
import { requireNonEmpty } from './worker-settings';

/**
 * Bottlerocket release the nodes boot by default. Pinned, not `@latest`: a new
 * AMI is then a reviewed change (Karpenter drifts nodes when this changes).
 */
export const DEFAULT_BOTTLEROCKET_AMI_ALIAS = 'bottlerocket@v1.64.0';

/** Tag key Karpenter's selectors look for on subnets and security groups. */
export const DISCOVERY_TAG_KEY = 'karpenter.sh/discovery';

const PINNED_BOTTLEROCKET = /^bottlerocket@v\d+\.\d+\.\d+$/;

/** Props of {@link JobNodeClass}. */
export interface JobNodeClassProps {
  /** EC2NodeClass name (cluster-scoped, so unique in the cluster). */
  readonly name: string;
  /** Ownership labels. */
  readonly labels: Record<string, string>;
  /** EKS cluster name: value of the `karpenter.sh/discovery` tag on subnets and security groups. */
  readonly clusterName: string;
  /** Name (not ARN) of the IAM role the nodes get; Karpenter makes the instance profile. */
  readonly nodeRoleName: string;
  /** Pinned Bottlerocket alias, `bottlerocket@vX.Y.Z`. @default DEFAULT_BOTTLEROCKET_AMI_ALIAS */
  readonly amiAlias?: string;
  /** Size of Bottlerocket's data volume (images, container storage). @default '20Gi' */
  readonly dataVolumeSize?: string;
  /** KMS key for the EBS volumes. @default the account's default EBS key */
  readonly kmsKeyId?: string;
  /** Extra tags on the instances and volumes Karpenter launches. @default none */
  readonly tags?: Record<string, string>;
}

/** The EC2NodeClass job nodes are launched from. */
export class JobNodeClass extends Construct {
  /** The EC2NodeClass API object. */
  public readonly apiObject: Ec2NodeClass;
  /** Name, for the NodePool's `nodeClassRef`. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: JobNodeClassProps) {
    super(scope, id);
    this.name = props.name;
    requireNonEmpty('nodes.clusterName', props.clusterName);
    requireNonEmpty('nodes.nodeRoleName', props.nodeRoleName);
    if (props.nodeRoleName.startsWith('arn:')) {
      throw new Error('nodes.nodeRoleName takes the IAM role name, not its ARN');
    }
    const amiAlias = props.amiAlias ?? DEFAULT_BOTTLEROCKET_AMI_ALIAS;
    if (!PINNED_BOTTLEROCKET.test(amiAlias)) {
      throw new Error(`nodes.amiAlias must pin a Bottlerocket release (bottlerocket@vX.Y.Z), got ${amiAlias}`);
    }
    for (const key of Object.keys(props.tags ?? {})) {
      if (isReservedTagKey(key)) {
        throw new Error(`nodes.tags may not set ${key}: Karpenter owns it`);
      }
    }
    const discovery = { [DISCOVERY_TAG_KEY]: props.clusterName };
    const ebs = (volumeSize: string) => ({
      volumeSize,
      volumeType: VolumeType.GP3,
      encrypted: true,
      deleteOnTermination: true,
      kmsKeyId: props.kmsKeyId,
    });

    this.apiObject = new Ec2NodeClass(this, 'Resource', {
      metadata: { name: props.name, labels: props.labels },
      spec: {
        role: props.nodeRoleName,
        amiSelectorTerms: [{ alias: amiAlias }],
        subnetSelectorTerms: [{ tags: discovery }],
        securityGroupSelectorTerms: [{ tags: discovery }],
        // IMDSv2 only. Hop limit 1: the node itself (host network) reaches the
        // metadata service, pods do not; the worker gets its credentials from
        // pod identity and its region from AWS_REGION.
        metadataOptions: {
          httpEndpoint: HttpEndpoint.ENABLED,
          httpProtocolIPv6: HttpProtocolIPv6.DISABLED,
          httpPutResponseHopLimit: 1,
          httpTokens: HttpTokens.REQUIRED,
        },
        // Bottlerocket's two volumes, both encrypted: the OS volume and the
        // data volume that holds images and container storage.
        blockDeviceMappings: [
          { deviceName: '/dev/xvda', ebs: ebs('4Gi') },
          { deviceName: '/dev/xvdb', ebs: ebs(props.dataVolumeSize ?? '20Gi') },
        ],
        tags: props.tags && Object.keys(props.tags).length > 0 ? props.tags : undefined,
      },
    });
  }
}

/** Tag keys the EC2NodeClass schema reserves for Karpenter and EKS. */
function isReservedTagKey(key: string): boolean {
  if (isUnresolvedToken(key)) {
    return false;
  }
  return (
    key === 'eks:eks-cluster-name' ||
    key.startsWith('kubernetes.io/cluster') ||
    key === 'karpenter.sh/nodepool' ||
    key === 'karpenter.sh/nodeclaim' ||
    key === 'karpenter.k8s.aws/ec2nodeclass'
  );
}
