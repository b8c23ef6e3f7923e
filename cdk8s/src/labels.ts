/**
 * Label and annotation conventions shared by every object in the chart: the
 * `app.kubernetes.io/*` recommended labels that say what owns what, and the
 * project's own keys for the dedicated job node pool.
 */

/** Prefix of the project's own label, taint and annotation keys. */
export const PROJECT_KEY_PREFIX = 'jobs-api';

/** Taint key on job nodes; only pods that tolerate it (the job pods) land there. */
export const DEDICATED_TAINT_KEY = `${PROJECT_KEY_PREFIX}/dedicated`;

/**
 * Label on job nodes naming their workload. Node labels stay out of the
 * kubernetes.io and k8s.io domains: the kubelet refuses to register a node
 * with labels there that it does not know.
 */
export const NODE_WORKLOAD_LABEL = `${PROJECT_KEY_PREFIX}/workload`;

/** Label Karpenter puts on every node it launches, naming the NodePool. */
export const KARPENTER_NODEPOOL_LABEL = 'karpenter.sh/nodepool';

/** Pod annotation that stops Karpenter from voluntarily disrupting the node under a running job. */
export const DO_NOT_DISRUPT_ANNOTATION = 'karpenter.sh/do-not-disrupt';

/**
 * ScaledJob annotation listing (comma-separated) the ScaledJob label keys KEDA
 * must not copy onto the Jobs it creates. KEDA copies every other label, and
 * every annotation, from the ScaledJob to each Job (KEDA 2.20,
 * `generateJobs` in pkg/scaling/executor/scale_jobs.go); it has no such
 * exclusion list for annotations.
 */
export const KEDA_JOB_EXCLUDED_LABELS_ANNOTATION = 'scaledjob.keda.sh/job-excluded-labels';

/** ScaledJob annotation that stops KEDA from creating Jobs while "true". */
export const KEDA_PAUSED_ANNOTATION = 'autoscaling.keda.sh/paused';

/** Recommended label naming the tool that manages an object. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

/** The role an object plays, written to `app.kubernetes.io/component`. */
export type Component = 'namespace' | 'worker' | 'autoscaler' | 'node-capacity';

/** Inputs to {@link standardLabels}. */
export interface LabelOptions {
  /** `app.kubernetes.io/name`: the application the objects belong to. */
  readonly name: string;
  /** `app.kubernetes.io/part-of`: the larger system the application is part of. */
  readonly partOf: string;
  /** `app.kubernetes.io/component`: the role of this object. */
  readonly component: Component;
  /**
   * Whether to add `app.kubernetes.io/managed-by: cdk8s`. Objects the chart
   * renders carry it; pods created by KEDA-made Jobs do not (cdk8s does not
   * manage them).
   */
  readonly managed?: boolean;
}

/** The recommended `app.kubernetes.io/*` labels for one object. */
export function standardLabels(opts: LabelOptions): Record<string, string> {
  const labels: Record<string, string> = {
    'app.kubernetes.io/name': opts.name,
    'app.kubernetes.io/part-of': opts.partOf,
    'app.kubernetes.io/component': opts.component,
  };
  if (opts.managed ?? true) {
    labels[MANAGED_BY_LABEL] = 'cdk8s';
  }
  return labels;
}
