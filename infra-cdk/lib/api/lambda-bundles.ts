/**
 * Where the Lambda zips come from: `make lambdas` (cargo-lambda, arm64) writes
 * `<dir>/<binary>/bootstrap.zip`; the app reads them from `dir` (context value
 * `lambdaDir`, default `target/lambda` at the repository root).
 */
import { existsSync } from 'fs';
import { join, resolve } from 'path';

/** The default directory: the workspace's `target/lambda`. */
export const DEFAULT_LAMBDA_DIR = resolve(__dirname, '..', '..', '..', 'target', 'lambda');

/** A missing zip: the message says how to build it. */
export class MissingLambdaBundleError extends Error {
  constructor(public readonly path: string, binary: string) {
    super(
      `Lambda bundle for ${binary} not found at ${path}. Build the zips first: run \`make lambdas\` ` +
        'at the repository root (cargo-lambda, arm64), or point the context value lambdaDir at a directory ' +
        'holding <binary>/bootstrap.zip.',
    );
    this.name = 'MissingLambdaBundleError';
  }
}

/** The zip of `binary` in `dir`; throws {@link MissingLambdaBundleError} if absent. */
export function lambdaBundle(dir: string, binary: string): string {
  const path = join(dir, binary, 'bootstrap.zip');
  if (!existsSync(path)) {
    throw new MissingLambdaBundleError(path, binary);
  }
  return path;
}
