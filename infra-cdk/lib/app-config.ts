/**
 * The app's settings from CDK context (`-c key=value` or cdk.json): parsed,
 * checked, and turned into {@link JobsStackProps}. Every value has a default,
 * so a plain `cdk synth` works once `make lambdas` has run.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Node } from 'constructs';
import { readFileSync } from 'fs';
import { join, resolve } from 'path';
import { ApiAuthorization, LOGGABLE_CLAIM } from './api/job-api';
import { DEFAULT_LAMBDA_DIR } from './api/lambda-bundles';
import { JobsStackProps } from './jobs-stack';
import { isPermission, Permission, PERMISSIONS, SCOPE_NAME } from './permission-settings';

/** A context value that cannot be used; the message names it. */
export class ContextError extends Error {
  constructor(key: string, problem: string) {
    super(`context value ${key}: ${problem}`);
    this.name = 'ContextError';
  }
}

/** The stack name and its props. */
export interface AppConfig {
  readonly stackName: string;
  readonly props: JobsStackProps;
}

/** Reads the context of `node` (the app's). */
export function readAppConfig(node: Node): AppConfig {
  const str = (key: string): string | undefined => {
    const value = node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ContextError(key, `expected a string, got ${JSON.stringify(value)}`);
    }
    return String(value);
  };
  const int = (key: string, min: number, max: number): number | undefined => {
    const value = str(key);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ContextError(key, `expected a whole number in [${min}, ${max}], got ${value}`);
    }
    return n;
  };
  const bool = (key: string): boolean | undefined => {
    const value = str(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw new ContextError(key, `expected true or false, got ${value}`);
    return value === 'true';
  };
  const list = (key: string): string[] | undefined =>
    str(key)
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');

  const stackName = str('stackName') ?? 'JobsApi';
  if (!/^[A-Za-z][A-Za-z0-9-]{0,99}$/.test(stackName)) {
    throw new ContextError('stackName', 'letters, digits and hyphens, starting with a letter (it also names the cluster)');
  }
  const imageTag = str('imageTag') ?? workspaceVersion();
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(imageTag)) {
    throw new ContextError('imageTag', `not a valid image tag: ${imageTag}`);
  }

  let apiAuthorization: ApiAuthorization = { type: 'iam' };
  const auth = str('apiAuth') ?? 'iam';
  if (auth === 'jwt') {
    const issuer = str('jwtIssuer');
    const audience = list('jwtAudience');
    if (!issuer?.startsWith('https://')) throw new ContextError('jwtIssuer', 'apiAuth=jwt needs an https:// issuer URL');
    if (!audience?.length) throw new ContextError('jwtAudience', 'apiAuth=jwt needs at least one audience');
    // Claims the access log names go into $context.authorizer.claims.<name>.
    const loggedClaim = (key: string): string | undefined => {
      const name = str(key);
      if (name !== undefined && !LOGGABLE_CLAIM.test(name)) {
        throw new ContextError(
          key,
          `${name} cannot be logged: the access log reads it as $context.authorizer.claims.<name>, which takes only letters, digits and underscores`,
        );
      }
      return name;
    };
    const groupsClaim = str('jwtGroupsClaim');
    if (groupsClaim !== undefined && !/^\S+$/.test(groupsClaim)) {
      throw new ContextError('jwtGroupsClaim', `a claim name has no spaces, got ${JSON.stringify(groupsClaim)}`);
    }
    const adminScope = str('adminScope');
    if (adminScope !== undefined && !SCOPE_NAME.test(adminScope)) {
      throw new ContextError('adminScope', `not a scope name (printable ASCII, no spaces, quotes or backslashes): ${adminScope}`);
    }
    apiAuthorization = {
      type: 'jwt',
      issuer,
      audience,
      scopes: scopeRenames(node),
      principalClaim: loggedClaim('jwtPrincipalClaim'),
      tenantClaim: loggedClaim('jwtTenantClaim'),
      groupsClaim,
      adminScope,
      adminGroups: list('adminGroups'),
    };
  } else if (auth === 'iam') {
    for (const key of JWT_ONLY_KEYS) {
      const value = node.tryGetContext(key);
      if (value !== undefined && value !== null && value !== '') {
        throw new ContextError(key, 'only for apiAuth=jwt (under IAM the caller is the request signer, with no token claims or scopes)');
      }
    }
  } else {
    throw new ContextError('apiAuth', `expected iam or jwt, got ${auth}`);
  }
  const adminPrincipals = list('adminPrincipals');
  for (const pattern of adminPrincipals ?? []) {
    if (/\s/.test(pattern)) throw new ContextError('adminPrincipals', `a principal pattern has no spaces, got ${JSON.stringify(pattern)}`);
    if (/^\*+$/.test(pattern)) throw new ContextError('adminPrincipals', `${pattern} matches every caller: name the admins' principals`);
  }

  const counting = str('counting') ?? 'stream';
  if (counting !== 'stream' && counting !== 'inline') {
    throw new ContextError('counting', `expected stream or inline, got ${counting}`);
  }

  const removal = str('tableRemovalPolicy') ?? 'retain';
  if (removal !== 'retain' && removal !== 'destroy') {
    throw new ContextError('tableRemovalPolicy', `expected retain or destroy, got ${removal}`);
  }

  return {
    stackName,
    props: {
      lambdaDir: resolve(str('lambdaDir') ?? DEFAULT_LAMBDA_DIR),
      imageTag,
      apiAuthorization,
      adminPrincipals,
      apiThrottleRateLimit: int('apiThrottleRateLimit', 1, 10_000),
      apiThrottleBurstLimit: int('apiThrottleBurstLimit', 1, 5_000),
      tableDeletionProtection: bool('tableDeletionProtection'),
      tableRemovalPolicy: removal === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      pointInTimeRecovery: bool('pointInTimeRecovery'),
      clusterAdminRoleArn: str('clusterAdminRoleArn'),
      clusterPublicEndpointCidrs: list('clusterPublicEndpointCidrs'),
      clusterEndpointPrivate: bool('clusterEndpointPrivate'),
      natGateways: int('natGateways', 1, 2),
      vpcInterfaceEndpoints: bool('vpcInterfaceEndpoints'),
      maxWorkers: int('maxWorkers', 1, 1000),
      workerNodeCpuLimit: str('workerNodeCpuLimit'),
      workerNodeMemoryLimit: str('workerNodeMemoryLimit'),
      alarmTopicArn: str('alarmTopicArn'),
      missedRunGraceSecs: int('missedRunGraceSecs', 60, 86_400),
      maxSchedules: int('maxSchedules', 1, 1_000_000),
      counting,
    },
  };
}

/** Context values that mean something only under the JWT authorizer: given with apiAuth=iam, an error. */
const JWT_ONLY_KEYS = ['jwtScopes', 'jwtPrincipalClaim', 'jwtTenantClaim', 'jwtGroupsClaim', 'adminScope', 'adminGroups'];

/**
 * `jwtScopes`: scope names replacing those of `settings/permissions.json`, an object of
 * permission to scope name, in cdk.json or as a JSON string (`-c 'jwtScopes={...}'`).
 */
function scopeRenames(node: Node): Partial<Record<Permission, string>> | undefined {
  const key = 'jwtScopes';
  let value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new ContextError(key, `expected a JSON object of permission to scope name, got ${value}`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ContextError(key, `expected an object of permission to scope name, got ${JSON.stringify(value)}`);
  }
  const renames: Partial<Record<Permission, string>> = {};
  for (const [permission, scope] of Object.entries(value)) {
    if (!isPermission(permission)) {
      throw new ContextError(key, `${JSON.stringify(permission)} is no permission; expected ${PERMISSIONS.join(', ')}`);
    }
    if (typeof scope !== 'string' || scope === '') {
      throw new ContextError(key, `${JSON.stringify(permission)} needs a non-empty scope name, got ${JSON.stringify(scope)}`);
    }
    if (!SCOPE_NAME.test(scope)) {
      throw new ContextError(key, `${JSON.stringify(permission)}: ${JSON.stringify(scope)} is not a scope name (printable ASCII, no spaces, quotes or backslashes)`);
    }
    renames[permission] = scope;
  }
  return renames;
}

/** The optional deploy role's settings (its own stack, made only when `githubRepository` is set). */
export interface DeployConfig {
  readonly stackName: string;
  readonly repository: string;
  readonly environment?: string;
  readonly bootstrapQualifier?: string;
  readonly oidcProviderArn?: string;
}

/**
 * Reads `githubRepository` (owner/name), `githubEnvironment` (default aws),
 * `cdkBootstrapQualifier` and `githubOidcProviderArn` (an account's existing
 * provider); `undefined` without `githubRepository`.
 */
export function readDeployConfig(node: Node, appStackName: string): DeployConfig | undefined {
  const str = (key: string): string | undefined => {
    const value = node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new ContextError(key, `expected a string, got ${JSON.stringify(value)}`);
    return value;
  };
  const repository = str('githubRepository');
  if (repository === undefined) return undefined;
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    throw new ContextError('githubRepository', `expected owner/name, got ${repository}`);
  }
  return {
    stackName: `${appStackName}-Deploy`,
    repository,
    environment: str('githubEnvironment'),
    bootstrapQualifier: str('cdkBootstrapQualifier'),
    oidcProviderArn: str('githubOidcProviderArn'),
  };
}

/** The Rust workspace's version (Cargo.toml at the repository root): the default image tag. */
export function workspaceVersion(cargoToml: string = join(__dirname, '..', '..', 'Cargo.toml')): string {
  const text = readFileSync(cargoToml, 'utf8');
  const section = text.split(/^\[/m).find((s) => s.startsWith('workspace.package]'));
  const version = section?.match(/^version\s*=\s*"([^"]+)"/m)?.[1];
  if (!version) throw new Error(`${cargoToml} has no [workspace.package] version`);
  return version;
}
