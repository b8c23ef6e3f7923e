/**
 * Karpenter NodePool for the job pods: spot first with on-demand fallback,
 * a taint only job pods tolerate, capacity limits, consolidation, node expiry
 * and a drain grace long enough for a running job to finish.
 */
import { Construct } from 'constructs';
import {
  NodePool,
  NodePoolSpecDisruptionConsolidationPolicy as ConsolidationPolicy,
  NodePoolSpecLimits,
  NodePoolSpecTemplateSpecRequirements as Requirement,
  NodePoolSpecTemplateSpecRequirementsOperator as Operator,
  NodePoolSpecTemplateSpecTaintsEffect as TaintEffect,
} from '../imports/karpenter.sh';
import { DEDICATED_TAINT_KEY, NODE_WORKLOAD_LABEL } from './labels';
import { requireInteger, requireNonEmpty } from './worker-settings';

/** CPU architectures Karpenter may pick for job nodes. */
export type Architecture = 'amd64' | 'arm64';

/** What the job nodes may be and how much of them there may be. */
export interface NodePoolCapacity {
  /** Upper bound of the CPU of all nodes in the pool together, e.g. '64'. */
  readonly cpuLimit: string;
  /** Upper bound of the memory of all nodes in the pool together, e.g. '256Gi'. */
  readonly memoryLimit: string;
  /**
   * Architectures to launch. Must match the image: scripts/image.sh builds a
   * single-architecture static binary for linux/amd64 (its NODE_ARCH, checked
   * against this default by infra-cdk's image-arch test), so the default is
   * amd64 only; change both together, or list both for a multi-arch image.
   * @default ['amd64']
   */
  readonly architectures?: Architecture[];
  /** EC2 instance categories (c: compute, m: general, r: memory). @default ['c', 'm', 'r'] */
  readonly instanceCategories?: string[];
  /** Oldest instance generation allowed. @default 5 */
  readonly minInstanceGeneration?: number;
  /** Largest instance size, in vCPUs; small nodes empty out and consolidate sooner. @default 16 */
  readonly maxInstanceCpu?: number;
  /** How long a node stays empty or underused before Karpenter consolidates it. @default '2m' */
  readonly consolidateAfter?: string;
  /** Node lifetime; expired nodes are replaced (fresh AMI, no long-lived spot hosts). @default '168h' */
  readonly expireAfter?: string;
}

/** Props of {@link JobNodePool}. */
export interface JobNodePoolProps extends NodePoolCapacity {
  /** NodePool name (cluster-scoped, so unique in the cluster). */
  readonly name: string;
  /** Ownership labels. */
  readonly labels: Record<string, string>;
  /** EC2NodeClass the nodes are launched from. */
  readonly nodeClassName: string;
  /** Value of the `jobs-api/dedicated` taint and the `jobs-api/workload` label on the nodes. */
  readonly taintValue: string;
  /**
   * Seconds Karpenter waits for pods on a node it is draining (expiry, drift)
   * before it deletes them, `do-not-disrupt` ones included. Set from the job's
   * deadline so a job started before the node expired can still finish.
   */
  readonly drainGraceSecs: number;
}

const DURATION = /^(([0-9]+(s|m|h))+|Never)$/;

/** The NodePool job pods are scheduled on. */
export class JobNodePool extends Construct {
  /** The NodePool API object. */
  public readonly apiObject: NodePool;
  /** Name, for the job pods' node selector. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: JobNodePoolProps) {
    super(scope, id);
    this.name = props.name;
    requireNonEmpty('nodes.cpuLimit', props.cpuLimit);
    requireNonEmpty('nodes.memoryLimit', props.memoryLimit);
    const architectures = props.architectures ?? ['amd64'];
    if (architectures.length === 0) {
      throw new Error('nodes.architectures must list at least one architecture');
    }
    const categories = props.instanceCategories ?? ['c', 'm', 'r'];
    if (categories.length === 0) {
      throw new Error('nodes.instanceCategories must list at least one category');
    }
    const minGeneration = props.minInstanceGeneration ?? 5;
    requireInteger('nodes.minInstanceGeneration', minGeneration, 1);
    const maxCpu = props.maxInstanceCpu ?? 16;
    requireInteger('nodes.maxInstanceCpu', maxCpu, 1);
    const consolidateAfter = props.consolidateAfter ?? '2m';
    const expireAfter = props.expireAfter ?? '168h';
    for (const [name, value] of [['consolidateAfter', consolidateAfter], ['expireAfter', expireAfter]]) {
      if (!DURATION.test(value)) {
        throw new Error(`nodes.${name} must be a duration like 90s, 5m, 168h or Never, got ${value}`);
      }
    }
    requireInteger('drainGraceSecs', props.drainGraceSecs, 1);

    const requirements: Requirement[] = [
      // Both capacity types: Karpenter prefers spot and falls back to
      // on-demand when no spot capacity fits.
      { key: 'karpenter.sh/capacity-type', operator: Operator.IN, values: ['spot', 'on-demand'] },
      { key: 'kubernetes.io/arch', operator: Operator.IN, values: [...architectures] },
      { key: 'kubernetes.io/os', operator: Operator.IN, values: ['linux'] },
      { key: 'karpenter.k8s.aws/instance-category', operator: Operator.IN, values: [...categories] },
      // Gt/Lt take one integer; they work on every Karpenter v1 release.
      { key: 'karpenter.k8s.aws/instance-generation', operator: Operator.GT, values: [String(minGeneration - 1)] },
      { key: 'karpenter.k8s.aws/instance-cpu', operator: Operator.LT, values: [String(maxCpu + 1)] },
    ];

    this.apiObject = new NodePool(this, 'Resource', {
      metadata: { name: props.name, labels: props.labels },
      spec: {
        template: {
          metadata: { labels: { [NODE_WORKLOAD_LABEL]: props.taintValue } },
          spec: {
            nodeClassRef: { group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: props.nodeClassName },
            requirements,
            taints: [{ key: DEDICATED_TAINT_KEY, value: props.taintValue, effect: TaintEffect.NO_SCHEDULE }],
            expireAfter,
            terminationGracePeriod: `${props.drainGraceSecs}s`,
          },
        },
        limits: {
          cpu: NodePoolSpecLimits.fromString(props.cpuLimit),
          memory: NodePoolSpecLimits.fromString(props.memoryLimit),
        },
        disruption: {
          // Job pods carry karpenter.sh/do-not-disrupt, so consolidation only
          // ever removes or replaces nodes without a running job.
          consolidationPolicy: ConsolidationPolicy.WHEN_EMPTY_OR_UNDERUTILIZED,
          consolidateAfter,
        },
      },
    });
  }
}
