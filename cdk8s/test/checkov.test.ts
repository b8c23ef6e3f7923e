/**
 * checkov's Kubernetes policies on the synthesized YAML. checkov does not
 * know ScaledJob, so the Job KEDA would create from its template is added to
 * the scanned file; otherwise the pod-level checks would never run. No
 * finding may fail except the ones acknowledged, with reasons, in
 * support/checkov-acknowledged.ts. checkov must be on PATH.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { ACKNOWLEDGED_CHECKOV_CHECKS } from './support/checkov-acknowledged';
import { jobFromScaledJob, Manifest, only, synthManifests } from './support/synth';
import { requireTool, runTool } from './support/tools';

const TOOL = 'checkov';
const ACKNOWLEDGED = Object.keys(ACKNOWLEDGED_CHECKOV_CHECKS);

interface CheckovCheck {
  check_id: string;
  check_name: string;
  resource: string;
}
interface CheckovReport {
  // --quiet leaves passed checks out of the results; the summary still counts them.
  results: { failed_checks: CheckovCheck[] };
  summary: { passed: number; failed: number; parsing_errors: number };
}

let workDir: string;

/** Writes the manifests plus the derived Job to one file and scans it. */
function scan(manifests: Manifest[], skip: string[]): { status: number | null; report: CheckovReport; file: string } {
  const file = path.join(workDir, `scan-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, Yaml.stringify(...manifests, jobFromScaledJob(only(manifests, 'ScaledJob'))));
  const args = ['-f', file, '--framework', 'kubernetes', '--quiet', '--compact', '--skip-download', '-o', 'json'];
  if (skip.length > 0) {
    args.push('--skip-check', skip.join(','));
  }
  const result = runTool(TOOL, args);
  let parsed: CheckovReport | CheckovReport[];
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new Error(`checkov gave no JSON report (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  // One framework gives one report object; guard against a list anyway.
  const report = Array.isArray(parsed) ? parsed[0] : parsed;
  return { status: result.status, report, file };
}

function describeFailures(report: CheckovReport): string[] {
  return report.results.failed_checks.map((c) => `${c.check_id} ${c.check_name} [${c.resource}]`);
}

beforeAll(() => {
  requireTool(TOOL);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-cdk8s-checkov-'));
});

afterAll(() => {
  if (workDir) {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
});

test(`${TOOL} is installed`, () => {
  expect(requireTool(TOOL)).toMatch(/\d+\.\d+\.\d+/);
});

test('every acknowledged check has a reason', () => {
  for (const [id, reason] of Object.entries(ACKNOWLEDGED_CHECKOV_CHECKS)) {
    expect(id).toMatch(/^CKV2?_K8S_\d+$/);
    expect(reason.length).toBeGreaterThan(40);
  }
});

test('no failed checks beyond the acknowledged ones', () => {
  const { status, report } = scan(synthManifests(), ACKNOWLEDGED);
  expect(describeFailures(report)).toEqual([]);
  expect(report.summary.parsing_errors).toBe(0);
  expect(status).toBe(0);
  // The pod checks really ran on the derived Job: the namespace, service
  // account and network policy alone pass only a handful.
  expect(report.summary.passed).toBeGreaterThan(50);
});

test('every acknowledgement is still needed', () => {
  const { report } = scan(synthManifests(), []);
  const failedIds = [...new Set(report.results.failed_checks.map((c) => c.check_id))].sort();
  expect(failedIds).toEqual([...ACKNOWLEDGED].sort());
});

test('a loosened pod fails (the check can fail)', () => {
  const manifests = synthManifests();
  const scaledJob = only(manifests, 'ScaledJob');
  const container = scaledJob.spec.jobTargetRef.template.spec.containers[0];
  container.securityContext.privileged = true;
  container.securityContext.allowPrivilegeEscalation = true;
  delete container.resources.limits;
  const { status, report } = scan(manifests, ACKNOWLEDGED);
  expect(status).not.toBe(0);
  const failed = report.results.failed_checks.map((c) => c.check_id);
  expect(failed).toEqual(expect.arrayContaining(['CKV_K8S_16', 'CKV_K8S_20', 'CKV_K8S_11', 'CKV_K8S_13']));
});
