/**
 * Runs the external validators and build tools (PyPI tools on PATH, from the
 * repository's tools venv). A missing tool is a failure with an install hint,
 * never a silent skip.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';

const INSTALL_HINT =
  'install the pinned tools and put them on PATH: python3 -m venv .venv/tools && ' +
  '.venv/tools/bin/pip install -r scripts/tools-requirements.txt && export PATH="$PWD/.venv/tools/bin:$PATH" ' +
  '(scripts/test.sh does this)';

/** Throws unless `command ...versionArgs` runs; returns its version output. */
export function requireTool(command: string, versionArgs: string[] = ['--version']): string {
  const result = spawnSync(command, versionArgs, { encoding: 'utf8', env: toolEnv() });
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status}: ${result.stderr}`;
    throw new Error(`${command} is required but not runnable (${why}); ${INSTALL_HINT}`);
  }
  return `${result.stdout}${result.stderr}`.trim();
}

/** Runs a tool with a time limit; output is text. */
export function runTool(command: string, args: string[], options: { timeoutMs?: number; cwd?: string } = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    env: toolEnv(),
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    throw new Error(`${command} failed to run: ${result.error.message}`);
  }
  return result;
}

/** The caller's environment, plus checkov's switch to work offline. */
function toolEnv(): NodeJS.ProcessEnv {
  return { ...process.env, BC_SKIP_MAPPING: 'TRUE' };
}
