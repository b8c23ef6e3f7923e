/**
 * The worker image runs on the job nodes: the architectures the deployed
 * NodePool lets Karpenter launch (its `kubernetes.io/arch` requirement in the
 * synthesized template) are exactly the platform `scripts/image.sh` builds for
 * by default, which is what `scripts/deploy.sh` pushes.
 */
import { spawnSync } from 'child_process';
import { join } from 'path';
import { REPO_DIR } from './support/paths';
import { Json, joinedText, one } from './support/template';

function imagePlatform(env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const clean = { ...process.env };
  delete clean.IMAGE_ARCH;
  const result = spawnSync('bash', [join(REPO_DIR, 'scripts', 'image.sh'), '--print-platform'], {
    cwd: REPO_DIR,
    env: { ...clean, ...env },
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
}

describe('the image is built for the architectures of the job nodes', () => {
  const [, resource] = one('Custom::AWSCDK-EKS-KubernetesResource', 'ClusterWorkers');
  const manifests: Json[] = JSON.parse(joinedText(resource.Properties.Manifest));
  const nodePools = manifests.filter((m) => m.kind === 'NodePool');
  const archRequirement = (pool: Json) =>
    pool.spec.template.spec.requirements.find((r: Json) => r.key === 'kubernetes.io/arch');

  test('the NodePool admits exactly the platform scripts/image.sh targets', () => {
    expect(nodePools).toHaveLength(1);
    const requirement = archRequirement(nodePools[0]);
    expect(requirement.operator).toBe('In');
    const built = imagePlatform();
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/^linux\/(amd64|arm64)$/);
    // A single-architecture image: every architecture the pool may launch must be it.
    expect(requirement.values.map((a: string) => `linux/${a}`)).toEqual([built.stdout]);
  });

  test('scripts/image.sh honours IMAGE_ARCH and refuses an unknown one', () => {
    expect(imagePlatform({ IMAGE_ARCH: 'arm64' }).stdout).toBe('linux/arm64');
    const bad = imagePlatform({ IMAGE_ARCH: 'riscv64' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/IMAGE_ARCH/);
  });
});
