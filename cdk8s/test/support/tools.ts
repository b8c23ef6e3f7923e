/**
 * Runs the external validators (PyPI tools on PATH). A missing tool is a
 * failure with an install hint, never a silent skip.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';

const INSTALL_HINT =
  'install the pinned tools into a venv and put its bin/ on PATH: ' +
  'python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && export PATH="$PWD/.venv/bin:$PATH"';

/** Throws unless `command --version` runs; returns its version output. */
export function requireTool(command: string): string {
  const result = spawnSync(command, ['--version'], { encoding: 'utf8', env: toolEnv() });
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status}: ${result.stderr}`;
    throw new Error(`${command} is required but not runnable (${why}); ${INSTALL_HINT}`);
  }
  return `${result.stdout}${result.stderr}`.trim();
}

/** Runs a tool with a time limit; output is text. */
export function runTool(command: string, args: string[], timeoutMs = 300_000): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { encoding: 'utf8', env: toolEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) {
    throw new Error(`${command} failed to run: ${result.error.message}`);
  }
  return result;
}

/** Environment for the tools: the caller's, plus checkov's switch to work offline. */
function toolEnv(): NodeJS.ProcessEnv {
  // checkov: do not fetch the guideline mapping from the vendor's platform.
  return { ...process.env, BC_SKIP_MAPPING: 'TRUE' };
}
