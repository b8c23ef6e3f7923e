/**
 * A deploy leaves running jobs alone: replays, on the chart manifest the
 * synthesized template hands to the cluster, what KEDA copies from the
 * ScaledJob onto each Job (KEDA 2.20 `generateJobs`) and what the next
 * update's `kubectl apply --prune -l <prune label>` then selects for deletion.
 * No Job and no job pod may be selected.
 */
import { App } from 'aws-cdk-lib';
import { workersPausedContext } from '../lib/cluster/job-workers';
import { Json, joinedText, one } from './support/template';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const EXCLUDED_LABELS = 'scaledjob.keda.sh/job-excluded-labels';

/** Kinds `kubectl apply --prune` considers when no --prune-allowlist is given (kubectl's default list). */
const DEFAULT_PRUNE_KINDS = new Set([
  'v1/ConfigMap', 'v1/Endpoints', 'v1/Namespace', 'v1/PersistentVolumeClaim', 'v1/PersistentVolume', 'v1/Pod',
  'v1/ReplicationController', 'v1/Secret', 'v1/Service', 'batch/v1/Job', 'batch/v1/CronJob',
  'networking.k8s.io/v1/Ingress', 'apps/v1/DaemonSet', 'apps/v1/Deployment', 'apps/v1/ReplicaSet', 'apps/v1/StatefulSet',
]);

interface LiveObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations: Record<string, string> };
}

/** The object as `kubectl apply` leaves it on the cluster: with its last-applied annotation. */
function applied(m: Json): LiveObject {
  return {
    apiVersion: m.apiVersion,
    kind: m.kind,
    metadata: {
      ...m.metadata,
      labels: { ...(m.metadata.labels ?? {}) },
      annotations: { ...(m.metadata.annotations ?? {}), [LAST_APPLIED]: JSON.stringify(m) },
    },
  };
}

/** The Job KEDA 2.20 creates from a ScaledJob, and the pod the Job controller creates from it. */
function kedaJobAndPod(scaledJob: LiveObject, template: Json): LiveObject[] {
  const name = scaledJob.metadata.name;
  const labels: Record<string, string> = {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/version': '2.20.2',
    'app.kubernetes.io/part-of': name,
    'app.kubernetes.io/managed-by': 'keda-operator',
    'scaledjob.keda.sh/name': name,
  };
  const excludedList = scaledJob.metadata.annotations[EXCLUDED_LABELS];
  const excluded = new Set(excludedList === undefined ? [] : excludedList.split(','));
  for (const [key, value] of Object.entries(scaledJob.metadata.labels)) {
    if (!excluded.has(key)) labels[key] = value;
  }
  // Every annotation is copied: KEDA has no exclusion list for annotations.
  const annotations = { 'scaledjob.keda.sh/generation': '1', ...scaledJob.metadata.annotations };
  const job: LiveObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${name}-x7k2p`, namespace: scaledJob.metadata.namespace, labels, annotations },
  };
  const pod: LiveObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${name}-x7k2p-abcde`,
      namespace: scaledJob.metadata.namespace,
      labels: { ...(template.metadata?.labels ?? {}), 'scaledjob.keda.sh/name': name, 'job-name': job.metadata.name },
      annotations: { ...(template.metadata?.annotations ?? {}) },
    },
  };
  return [job, pod];
}

/** Whether a label selector (`key`, `!key`, `key=value`, `key!=value`, comma-joined) matches. */
function matches(selector: string, labels: Record<string, string>): boolean {
  return selector.split(',').every((term) => {
    const t = term.trim();
    const ne = t.match(/^([^!=]+)!=(.*)$/);
    if (ne) return labels[ne[1]] !== ne[2];
    const eq = t.match(/^([^!=]+)==?(.*)$/);
    if (eq) return labels[eq[1]] === eq[2];
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

/**
 * What `kubectl apply --prune -l <selector>` deletes among `live`: objects of the
 * default prune kinds, in a namespace the apply visited (or cluster-scoped),
 * matching the selector, created by apply (last-applied annotation), and not
 * in the applied set.
 */
function pruned(selector: string, appliedSet: LiveObject[], live: LiveObject[]): LiveObject[] {
  const id = (o: LiveObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const appliedIds = new Set(appliedSet.map(id));
  const namespaces = new Set(appliedSet.map((o) => o.metadata.namespace).filter((n) => n !== undefined));
  return live.filter(
    (o) =>
      DEFAULT_PRUNE_KINDS.has(`${o.apiVersion}/${o.kind}`) &&
      (o.metadata.namespace === undefined || namespaces.has(o.metadata.namespace)) &&
      matches(selector, o.metadata.labels) &&
      LAST_APPLIED in o.metadata.annotations &&
      !appliedIds.has(id(o)),
  );
}

describe('a deploy of the worker chart leaves the Jobs KEDA created alone', () => {
  const [, resource] = one('Custom::AWSCDK-EKS-KubernetesResource', 'ClusterWorkers');
  const manifests: Json[] = JSON.parse(joinedText(resource.Properties.Manifest));
  const pruneLabel: string = resource.Properties.PruneLabel;
  const liveChart = manifests.map(applied);
  const scaledJob = liveChart.find((o) => o.kind === 'ScaledJob')!;
  const template = manifests.find((m) => m.kind === 'ScaledJob').spec.jobTargetRef.template;

  test('the chart is applied with pruning, and its prune label selects every chart object', () => {
    expect(pruneLabel).toMatch(/^aws\.cdk\.eks\/prune-[0-9a-f]+$/);
    for (const o of liveChart) {
      expect(matches(pruneLabel, o.metadata.labels)).toBe(true);
    }
    // An object dropped from the chart is pruned: the selection is not vacuous.
    const dropped = applied({ ...manifests.find((m) => m.kind === 'ServiceAccount'), kind: 'Secret' });
    expect(pruned(pruneLabel, liveChart, [...liveChart, dropped])).toEqual([dropped]);
  });

  test('the ScaledJob tells KEDA not to copy the prune label onto its Jobs', () => {
    expect(scaledJob.metadata.annotations[EXCLUDED_LABELS].split(',')).toEqual(
      expect.arrayContaining([pruneLabel, 'app.kubernetes.io/managed-by']),
    );
  });

  test('the next apply --prune selects no Job KEDA made and no job pod', () => {
    const [job, pod] = kedaJobAndPod(scaledJob, template);
    // The Job does carry the ScaledJob's last-applied annotation (copied by KEDA) ...
    expect(job.metadata.annotations[LAST_APPLIED]).toBeDefined();
    // ... but not the label the prune selects by.
    expect(job.metadata.labels).not.toHaveProperty(pruneLabel);
    expect(job.metadata.labels['app.kubernetes.io/managed-by']).toBe('keda-operator');
    expect(pruned(pruneLabel, liveChart, [...liveChart, job, pod])).toEqual([]);
  });

  test('without the exclusion the same apply would delete the running Job (what the check guards against)', () => {
    const { [EXCLUDED_LABELS]: _, ...others } = scaledJob.metadata.annotations;
    const unguarded: LiveObject = { ...scaledJob, metadata: { ...scaledJob.metadata, annotations: others } };
    const [job, pod] = kedaJobAndPod(unguarded, template);
    expect(pruned(pruneLabel, liveChart, [...liveChart, job, pod]).map((o) => o.kind)).toEqual(['Job']);
  });

  test('the synthesized ScaledJob is not paused (the plain deploy runs jobs)', () => {
    expect(scaledJob.metadata.annotations).not.toHaveProperty('autoscaling.keda.sh/paused');
  });
});

describe('workersPaused context', () => {
  const value = (context: Record<string, unknown>) => workersPausedContext(new App({ context }));

  test('reads true and false, defaults to false, rejects anything else', () => {
    expect(value({})).toBe(false);
    expect(value({ workersPaused: 'true' })).toBe(true);
    expect(value({ workersPaused: 'false' })).toBe(false);
    expect(() => value({ workersPaused: 'yes' })).toThrow(/workersPaused/);
  });
});
