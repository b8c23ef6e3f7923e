/**
 * The environment that tells the API Lambdas (jobs-api, stats-api, schedules-api) how
 * to find a request's caller and who is an admin: the authorization type; under the JWT
 * authorizer the scope of each permission, the principal, tenant and groups claims, the
 * admin scope and groups; and, under either, the admin principal patterns.
 */
import { Permission, renameScopes } from '../permission-settings';
import { ApiAuthorization, DEFAULT_GROUPS_CLAIM, DEFAULT_PRINCIPAL_CLAIM } from './job-api';

/** Props of {@link callerEnvironment}. */
export interface CallerEnvironmentProps {
  /** How callers authenticate. */
  readonly authorization: ApiAuthorization;
  /** The scope of each permission, as `settings/permissions.json` names it (before the authorization's renames). */
  readonly scopes: Readonly<Record<Permission, string>>;
  /**
   * Principal patterns of admins (`*` matches any run of characters), matched against
   * the caller's principal under either authorization. @default none
   */
  readonly adminPrincipals?: string[];
}

/**
 * `JOBS_AUTH` (`iam` or `jwt`) always; under JWT `JOBS_JWT_SCOPES` (JSON, every
 * permission), `JOBS_PRINCIPAL_CLAIM` and `JOBS_GROUPS_CLAIM` always, `JOBS_TENANT_CLAIM`,
 * `JOBS_ADMIN_SCOPE` and `JOBS_ADMIN_GROUPS` when set; `JOBS_ADMINS` when admin
 * principals are given. Lists are comma-joined, so no item may hold a comma.
 */
export function callerEnvironment(props: CallerEnvironmentProps): Record<string, string> {
  const auth = props.authorization;
  const environment: Record<string, string> = { JOBS_AUTH: auth.type };
  if (auth.type === 'jwt') {
    environment.JOBS_JWT_SCOPES = JSON.stringify(renameScopes(props.scopes, auth.scopes));
    environment.JOBS_PRINCIPAL_CLAIM = auth.principalClaim ?? DEFAULT_PRINCIPAL_CLAIM;
    environment.JOBS_GROUPS_CLAIM = auth.groupsClaim ?? DEFAULT_GROUPS_CLAIM;
    if (auth.tenantClaim !== undefined) environment.JOBS_TENANT_CLAIM = auth.tenantClaim;
    if (auth.adminScope !== undefined) environment.JOBS_ADMIN_SCOPE = auth.adminScope;
    if (auth.adminGroups?.length) environment.JOBS_ADMIN_GROUPS = commaList('adminGroups', auth.adminGroups);
  }
  if (props.adminPrincipals?.length) environment.JOBS_ADMINS = commaList('adminPrincipals', props.adminPrincipals);
  return environment;
}

function commaList(name: string, items: string[]): string {
  const bad = items.filter((item) => item.trim() === '' || item.includes(','));
  if (bad.length) throw new Error(`${name}: items must be non-empty and hold no comma, got ${JSON.stringify(bad)}`);
  return items.join(',');
}
