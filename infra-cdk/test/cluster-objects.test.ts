/**
 * Everything the app puts on the cluster, validated together: the KEDA and Karpenter
 * charts rendered with the app's values (support/charts.ts) and the cdk8s chart's
 * objects exactly as the stack applies them (the worker manifest of the synthesized
 * template). Core objects of the union pass kubernetes-validate, strict, for the
 * cluster's Kubernetes version; every custom resource passes the openAPIV3Schema of
 * the CRD the rendered charts install for its group, version and kind (ajv,
 * support/crd-schema.ts), and one no installed CRD serves fails by name. The
 * namespaces the objects live in and the service accounts they name exist or are
 * created by the stack; the objects' references to each other resolve.
 *
 * Where the CRDs come from: KEDA's chart has them under templates/crds/ (rendered
 * when crds.install, the default); Karpenter's has them in crds/, which Helm applies
 * on `helm install` (the kubectl handler runs `helm upgrade --install`, and the app
 * does not set skipCrds) but leaves out of `helm template` unless `--include-crds`.
 * So both charts are rendered with `--include-crds`: exactly what a first install
 * applies. (Helm never updates crds/ on a later upgrade: a Karpenter version bump
 * must update those CRDs itself.)
 */
import { writeFileSync } from 'fs';
import { join } from 'path';
import { stringify } from 'yaml';
import { CrdVersion, crdVersions, gvkOf, groupOf } from './support/crd-schema';
import { release, releasedCharts, render, work, workerManifest } from './support/charts';
import { clusterKubernetesVersion, Json, resourcesOf } from './support/template';
import { requireTool, runTool } from './support/tools';

/** Namespaces every cluster has. */
const BUILT_IN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
/**
 * Service accounts that a Pod Identity association names and an EKS add-on creates
 * (not in any manifest of ours): `namespace/name` -> the add-on.
 */
const ADDON_SERVICE_ACCOUNTS: Record<string, string> = {
  'amazon-cloudwatch/cloudwatch-agent': 'amazon-cloudwatch-observability',
};

/**
 * Service accounts the control plane creates (kube-controller-manager runs each
 * controller as its own account): `namespace/name`. Every namespace also has `default`.
 */
const CONTROL_PLANE_SERVICE_ACCOUNTS = ['kube-system/horizontal-pod-autoscaler'];

interface Placed {
  readonly source: string;
  readonly object: Json;
  /** The release namespace Helm applies the object in when it names none. */
  readonly namespace?: string;
}

const charts = releasedCharts();
const rendered: Placed[] = charts.flatMap((chart) => {
  const { props } = release(chart);
  // Helm puts an object without a namespace into the release's namespace; say so here.
  return render(chart, { includeCrds: true }).objects.map((object) => ({ source: `chart ${chart}`, object, namespace: props.Namespace }));
});
const workers: Placed[] = workerManifest().objects.map((object) => ({ source: 'cdk8s chart', object }));
const union: Placed[] = [...rendered, ...workers];
const crds = crdVersions(union.map((p) => p.object));
const customGroups = new Set(crds.map((v) => v.group));
const isCustom = (o: Json) => customGroups.has(groupOf(o.apiVersion));
const name = (o: Json) => `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

/**
 * The problems of the custom resources among `objects` against `versions`: one no
 * served version covers, named; otherwise its schema errors.
 */
function customResourceProblems(objects: Json[], versions: CrdVersion[]): string[] {
  return objects.flatMap((o) => {
    const served = versions.find((v) => v.key === gvkOf(o));
    if (!served) return [`${name(o)}: no installed CRD serves ${gvkOf(o)}`];
    return served.validate(o).map((e) => `${name(o)}: ${e}`);
  });
}

/**
 * kubernetes-validate (strict, the cluster's version) on `objects`: each line that is not
 * a pass. A kind the validator has no schema for is only a WARN there: a problem here.
 */
function coreProblems(objects: Json[], file: string): { status: number | null; problems: string[]; passed: number } {
  requireTool('kubernetes-validate', ['--version']);
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  const result = runTool('kubernetes-validate', ['-k', clusterKubernetesVersion(), '--strict', file]);
  const lines = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.trim() !== '');
  const passing = /^INFO .* passed for resource /;
  return { status: result.status, problems: lines.filter((l) => !passing.test(l)), passed: lines.filter((l) => passing.test(l)).length };
}

/** The scope (Namespaced or Cluster) of a custom resource's kind, per its CRD. */
const scopeOf = (o: Json) => crds.find((v) => v.key === gvkOf(o))?.scope;

describe('the CRDs the charts install', () => {
  test('no Helm release skips its CRDs, so the crds/ folders are installed', () => {
    for (const chart of charts) {
      expect({ chart, skipCrds: release(chart).props.SkipCrds ?? false }).toEqual({ chart, skipCrds: false });
    }
  });

  test('serve the custom resources of the cdk8s chart (ScaledJob, TriggerAuthentication, NodePool, EC2NodeClass)', () => {
    const custom = workers.filter((p) => isCustom(p.object));
    expect(custom.map((p) => p.object.kind).sort()).toEqual(['EC2NodeClass', 'NodePool', 'ScaledJob', 'TriggerAuthentication']);
    expect(custom.map((p) => gvkOf(p.object)).filter((key) => !crds.some((v) => v.key === key))).toEqual([]);
  });
});

describe('validated together', () => {
  test("core objects pass kubernetes-validate (strict, the cluster's Kubernetes version)", () => {
    const core = union.filter((p) => !isCustom(p.object));
    // Both sources are in the run: the charts' controllers and the chart's own objects.
    expect(new Set(core.map((p) => p.source)).size).toBe(charts.length + 1);
    const { status, problems, passed } = coreProblems(core.map((p) => p.object), join(work, 'cluster-core-objects.yaml'));
    expect({ status, problems }).toEqual({ status: 0, problems: [] });
    expect(passed).toBe(core.length);
  });

  test('every custom resource passes the schema of the CRD installed for its group, version and kind', () => {
    const custom = union.filter((p) => isCustom(p.object)).map((p) => p.object);
    expect(custom.length).toBeGreaterThanOrEqual(4);
    expect(customResourceProblems(custom, crds)).toEqual([]);
  });

  test('custom resources are namespaced exactly when their CRD is', () => {
    for (const { object } of union.filter((p) => isCustom(p.object))) {
      const scope = scopeOf(object);
      expect({ object: name(object), namespaced: object.metadata.namespace !== undefined }).toEqual({
        object: name(object),
        namespaced: scope === 'Namespaced',
      });
    }
  });

  test('no two objects are the same object (kind, namespace, name)', () => {
    const seen = new Map<string, string>();
    const clashes: string[] = [];
    for (const { source, object } of union) {
      const key = `${groupOf(object.apiVersion)} ${name(object)}`;
      if (seen.has(key)) clashes.push(`${key}: ${seen.get(key)} and ${source}`);
      seen.set(key, source);
    }
    expect(clashes).toEqual([]);
  });
});

describe('the check can fail', () => {
  const scaledJob = () => structuredClone(workers.find((p) => p.object.kind === 'ScaledJob')!.object);

  test('a core object with an unknown field, and a kind neither Kubernetes nor a CRD knows, fail', () => {
    const policy = structuredClone(workers.find((p) => p.object.kind === 'NetworkPolicy')!.object);
    policy.spec.podSelectr = {};
    const unknown = { apiVersion: 'monitoring.example.com/v1', kind: 'ServiceMonitor', metadata: { name: 'm', namespace: 'jobs' } };
    const { problems } = coreProblems([policy, unknown], join(work, 'broken-core-objects.yaml'));
    expect(problems.join('\n')).toMatch(/podSelectr/);
    expect(problems.join('\n')).toMatch(/ServiceMonitor/);
  });

  test('a version no installed CRD serves fails by name', () => {
    const o = { ...scaledJob(), apiVersion: 'keda.sh/v1alpha2' };
    expect(customResourceProblems([o], crds)).toEqual([`ScaledJob jobs/data-processor: no installed CRD serves keda.sh/v1alpha2 ScaledJob`]);
  });

  test('a kind no installed CRD serves fails by name', () => {
    const o = { ...scaledJob(), kind: 'ScaledJobs' };
    expect(customResourceProblems([o], crds)).toEqual([`ScaledJobs jobs/data-processor: no installed CRD serves keda.sh/v1alpha1 ScaledJobs`]);
  });

  test('an unknown field, a wrong type and a value outside an enum fail', () => {
    const o = scaledJob();
    o.spec.scalingStrategyy = { strategy: 'accurate' };
    o.spec.maxReplicaCount = '20';
    o.spec.jobTargetRef.template.spec.containers[0].securityContext.readOnlyRootFS = true;
    const nodePool = structuredClone(workers.find((p) => p.object.kind === 'NodePool')!.object);
    nodePool.spec.disruption.consolidationPolicy = 'Sometimes';
    const problems = customResourceProblems([o, nodePool], crds).join('\n');
    expect(problems).toMatch(/ScaledJob jobs\/data-processor: \/spec must NOT have additional properties \(scalingStrategyy\)/);
    expect(problems).toMatch(/\/spec\/maxReplicaCount must be integer/);
    expect(problems).toMatch(/securityContext must NOT have additional properties \(readOnlyRootFS\)/);
    expect(problems).toMatch(/NodePool data-processor: \/spec\/disruption\/consolidationPolicy must be equal to one of the allowed values/);
  });
});

describe('namespaces and service accounts', () => {
  /** The namespace an object is applied in (a chart's release namespace when it names none). */
  const namespaceOf = (p: Placed): string | undefined => p.object.metadata?.namespace ?? p.namespace;
  const created = new Set([
    ...BUILT_IN_NAMESPACES,
    ...union.filter((p) => p.object.apiVersion === 'v1' && p.object.kind === 'Namespace').map((p) => p.object.metadata.name),
    ...resourcesOf('Custom::AWSCDK-EKS-HelmChart')
      .filter(([, r]) => r.Properties.CreateNamespace === true)
      .map(([, r]) => r.Properties.Namespace),
  ]);
  const serviceAccounts = new Set([
    ...CONTROL_PLANE_SERVICE_ACCOUNTS,
    ...union
      .filter((p) => p.object.apiVersion === 'v1' && p.object.kind === 'ServiceAccount')
      .map((p) => `${namespaceOf(p)}/${p.object.metadata.name}`),
  ]);

  test('every namespace an object lives in exists or is created by the stack', () => {
    const missing = union
      .filter((p) => p.object.metadata?.namespace !== undefined)
      .filter((p) => !created.has(p.object.metadata.namespace))
      .map((p) => `${p.source}: ${name(p.object)}`);
    expect(missing).toEqual([]);
  });

  test("the cdk8s chart creates its namespace before the objects in it (kubectl applies a list in order)", () => {
    const objects = workers.map((p) => p.object);
    const namespaces = objects.map((o, i) => [o, i] as const).filter(([o]) => o.kind === 'Namespace');
    for (const [ns, at] of namespaces) {
      const before = objects.slice(0, at).filter((o) => o.metadata.namespace === ns.metadata.name).map(name);
      expect({ namespace: ns.metadata.name, usedBefore: before }).toEqual({ namespace: ns.metadata.name, usedBefore: [] });
    }
  });

  /** The pod spec of a workload: Deployment-like, Job, CronJob, or KEDA's ScaledJob. */
  const podSpecOf = (o: Json): Json | undefined =>
    o.kind === 'ScaledJob'
      ? o.spec?.jobTargetRef?.template?.spec
      : o.kind === 'CronJob'
        ? o.spec?.jobTemplate?.spec?.template?.spec
        : o.kind === 'Pod'
          ? o.spec
          : o.spec?.template?.spec;
  const workloads = union.filter((p) => ['Deployment', 'DaemonSet', 'StatefulSet', 'Job', 'CronJob', 'Pod', 'ScaledJob'].includes(p.object.kind));

  test('every pod runs as a service account that exists in its namespace', () => {
    expect(workloads.some((p) => p.object.kind === 'ScaledJob')).toBe(true);
    const missing = workloads
      .map((p) => ({ p, account: `${namespaceOf(p)}/${podSpecOf(p.object)?.serviceAccountName ?? 'default'}` }))
      .filter(({ account }) => !account.endsWith('/default') && !serviceAccounts.has(account))
      .map(({ p, account }) => `${p.source}: ${name(p.object)} runs as ${account}`);
    expect(missing).toEqual([]);
  });

  test('every service account a (Cluster)RoleBinding names exists', () => {
    const missing = union
      .filter((p) => ['RoleBinding', 'ClusterRoleBinding'].includes(p.object.kind))
      .flatMap((p) =>
        (p.object.subjects ?? [])
          .filter((s: Json) => s.kind === 'ServiceAccount')
          .map((s: Json) => `${s.namespace ?? namespaceOf(p)}/${s.name}`)
          .filter((account: string) => !serviceAccounts.has(account))
          .map((account: string) => `${p.source}: ${name(p.object)} binds ${account}`),
      );
    expect(missing).toEqual([]);
  });

  test('every Pod Identity association names a service account the stack creates', () => {
    const addons = new Set(resourcesOf('AWS::EKS::Addon').map(([, a]) => a.Properties.AddonName));
    const associations = resourcesOf('AWS::EKS::PodIdentityAssociation').map(([, a]) => `${a.Properties.Namespace}/${a.Properties.ServiceAccount}`);
    expect(associations).toEqual(expect.arrayContaining(['jobs/data-processor']));
    const missing = associations.filter((account) => !serviceAccounts.has(account) && !addons.has(ADDON_SERVICE_ACCOUNTS[account]));
    expect(missing).toEqual([]);
  });
});

describe("the cdk8s chart's references resolve", () => {
  const find = (kind: string, objectName: string, namespace?: string) =>
    union.find((p) => p.object.kind === kind && p.object.metadata.name === objectName && p.object.metadata.namespace === namespace);

  test("each ScaledJob trigger's authentication is a TriggerAuthentication of its namespace", () => {
    const scaledJobs = union.filter((p) => p.object.kind === 'ScaledJob');
    expect(scaledJobs.length).toBeGreaterThan(0);
    for (const { object } of scaledJobs) {
      for (const trigger of object.spec.triggers) {
        const ref = trigger.authenticationRef;
        const kind = ref?.kind ?? 'TriggerAuthentication';
        const found = kind === 'ClusterTriggerAuthentication' ? find(kind, ref.name) : find(kind, ref?.name, object.metadata.namespace);
        expect({ trigger: trigger.name, found: found !== undefined }).toEqual({ trigger: trigger.name, found: true });
      }
    }
  });

  test("each NodePool's nodeClassRef is an EC2NodeClass of the chart", () => {
    for (const { object } of union.filter((p) => p.object.kind === 'NodePool')) {
      const ref = object.spec.template.spec.nodeClassRef;
      const found = find(ref.kind, ref.name);
      expect({ pool: object.metadata.name, found: found ? groupOf(found.object.apiVersion) : undefined }).toEqual({
        pool: object.metadata.name,
        found: ref.group,
      });
    }
  });

  test('job pods that select a NodePool tolerate its taints', () => {
    let taintsChecked = 0;
    for (const { object } of union.filter((p) => p.object.kind === 'ScaledJob')) {
      const pod = object.spec.jobTargetRef.template.spec;
      const poolName = pod.nodeSelector?.['karpenter.sh/nodepool'];
      if (poolName === undefined) continue;
      const pool = find('NodePool', poolName);
      expect({ pool: poolName, exists: pool !== undefined }).toEqual({ pool: poolName, exists: true });
      const taints: Json[] = pool!.object.spec.template.spec.taints ?? [];
      taintsChecked += taints.length;
      const untolerated = taints.filter(
        (t) =>
          !(pod.tolerations ?? []).some(
            (tol: Json) =>
              tol.key === t.key &&
              (tol.effect === undefined || tol.effect === t.effect) &&
              (tol.operator === 'Exists' || tol.value === t.value),
          ),
      );
      expect(untolerated).toEqual([]);
    }
    // The chart's pool is tainted for the job pods: the comparison above is not vacuous.
    expect(taintsChecked).toBeGreaterThan(0);
  });
});
