/** Context values: defaults, checks with clear messages, and the missing-bundle error. */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { lambdaBundle, MissingLambdaBundleError } from '../lib/api/lambda-bundles';
import { ContextError, readAppConfig, workspaceVersion } from '../lib/app-config';

const config = (context: Record<string, unknown>) => readAppConfig(new App({ context }).node);

test('defaults: IAM auth, stack JobsApi, the workspace version as image tag, retained table', () => {
  const { stackName, props } = config({});
  expect(stackName).toBe('JobsApi');
  expect(props.apiAuthorization).toEqual({ type: 'iam' });
  expect(props.imageTag).toBe(workspaceVersion());
  expect(props.imageTag).toMatch(/^\d+\.\d+\.\d+/);
  expect(props.tableRemovalPolicy).toBe(RemovalPolicy.RETAIN);
  expect(props.missedRunGraceSecs).toBeUndefined();
  expect(config({ missedRunGraceSecs: '1800' }).props.missedRunGraceSecs).toBe(1800);
  expect(props.maxSchedules).toBeUndefined();
  expect(config({ maxSchedules: '250' }).props.maxSchedules).toBe(250);
});

test('apiAuth=jwt needs an https issuer and an audience', () => {
  expect(() => config({ apiAuth: 'jwt' })).toThrow(/jwtIssuer/);
  expect(() => config({ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com' })).toThrow(/jwtAudience/);
  expect(config({ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com', jwtAudience: 'a, b' }).props.apiAuthorization).toEqual({
    type: 'jwt',
    issuer: 'https://id.example.com',
    audience: ['a', 'b'],
  });
  expect(() => config({ apiAuth: 'basic' })).toThrow(/apiAuth: expected iam or jwt/);
});

const JWT = { apiAuth: 'jwt', jwtIssuer: 'https://id.example.com', jwtAudience: 'jobs' };

test('the caller context values: claims, scope renames and admins, left undefined for the stack defaults when not given', () => {
  const { props } = config(JWT);
  expect(props.apiAuthorization).toEqual({ type: 'jwt', issuer: 'https://id.example.com', audience: ['jobs'] });
  expect(props.adminPrincipals).toBeUndefined();
  expect(
    config({
      ...JWT,
      jwtScopes: '{"jobs:read":"api/jobs.read"}',
      jwtPrincipalClaim: 'username',
      jwtTenantClaim: 'tenant_id',
      jwtGroupsClaim: 'groups',
      adminScope: 'api/admin',
      adminGroups: 'ops, oncall',
      adminPrincipals: 'arn:aws:sts::*:assumed-role/JobsAdmin/*, ops-*',
    }).props,
  ).toMatchObject({
    apiAuthorization: {
      type: 'jwt',
      scopes: { 'jobs:read': 'api/jobs.read' },
      principalClaim: 'username',
      tenantClaim: 'tenant_id',
      groupsClaim: 'groups',
      adminScope: 'api/admin',
      adminGroups: ['ops', 'oncall'],
    },
    adminPrincipals: ['arn:aws:sts::*:assumed-role/JobsAdmin/*', 'ops-*'],
  });
  // jwtScopes as cdk.json gives it: an object.
  const fromObject = config({ ...JWT, jwtScopes: { 'schedules:write': 'api/schedules.write' } }).props.apiAuthorization;
  expect(fromObject).toMatchObject({ scopes: { 'schedules:write': 'api/schedules.write' } });
  // adminPrincipals holds under IAM too.
  expect(config({ adminPrincipals: 'arn:aws:iam::*:user/ops' }).props.adminPrincipals).toEqual(['arn:aws:iam::*:user/ops']);
});

test.each([
  [{ ...JWT, jwtScopes: '{"jobs:admin":"x"}' }, /context value jwtScopes: "jobs:admin" is no permission; expected jobs:read, jobs:write/],
  [{ ...JWT, jwtScopes: { 'jobs:read': '' } }, /context value jwtScopes: "jobs:read" needs a non-empty scope name/],
  [{ ...JWT, jwtScopes: { 'jobs:read': 7 } }, /context value jwtScopes: "jobs:read" needs a non-empty scope name, got 7/],
  [{ ...JWT, jwtScopes: { 'jobs:read': 'two words' } }, /context value jwtScopes: "jobs:read": "two words" is not a scope name/],
  [{ ...JWT, jwtScopes: '{jobs:read' }, /context value jwtScopes: expected a JSON object/],
  [{ ...JWT, jwtScopes: '["jobs:read"]' }, /context value jwtScopes: expected an object/],
  [{ ...JWT, jwtPrincipalClaim: 'cognito:username' }, /context value jwtPrincipalClaim: cognito:username cannot be logged: .*only letters, digits and underscores/],
  [{ ...JWT, jwtTenantClaim: 'custom-tenant' }, /context value jwtTenantClaim: custom-tenant cannot be logged/],
  [{ ...JWT, jwtGroupsClaim: 'my groups' }, /context value jwtGroupsClaim: a claim name has no spaces/],
  [{ ...JWT, adminScope: 'jobs admin' }, /context value adminScope: not a scope name/],
  [{ adminPrincipals: 'arn:aws:iam::*:user/ops, *' }, /context value adminPrincipals: \* matches every caller/],
  [{ jwtScopes: '{"jobs:read":"r"}' }, /context value jwtScopes: only for apiAuth=jwt/],
  [{ jwtPrincipalClaim: 'sub' }, /context value jwtPrincipalClaim: only for apiAuth=jwt/],
  [{ jwtTenantClaim: 'tenant' }, /context value jwtTenantClaim: only for apiAuth=jwt/],
  [{ jwtGroupsClaim: 'groups' }, /context value jwtGroupsClaim: only for apiAuth=jwt/],
  [{ adminScope: 'admin' }, /context value adminScope: only for apiAuth=jwt/],
  [{ adminGroups: 'ops' }, /context value adminGroups: only for apiAuth=jwt/],
])('rejects the caller context %j', (context, message) => {
  expect(() => config(context)).toThrow(ContextError);
  expect(() => config(context)).toThrow(message);
});

test.each([
  [{ natGateways: '0' }, /natGateways/],
  [{ maxWorkers: 'many' }, /maxWorkers/],
  [{ tableRemovalPolicy: 'keep' }, /tableRemovalPolicy/],
  [{ tableDeletionProtection: 'yes' }, /tableDeletionProtection/],
  [{ stackName: '1bad name' }, /stackName/],
  [{ imageTag: 'has space' }, /imageTag/],
  [{ missedRunGraceSecs: '59' }, /missedRunGraceSecs: expected a whole number in \[60, 86400\]/],
  [{ missedRunGraceSecs: '15m' }, /missedRunGraceSecs/],
  [{ maxSchedules: '0' }, /maxSchedules: expected a whole number in \[1, 1000000\]/],
])('rejects %j', (context, message) => {
  expect(() => config(context)).toThrow(message);
});

test('a missing Lambda bundle names make lambdas', () => {
  const empty = mkdtempSync(join(tmpdir(), 'no-lambdas-'));
  expect(() => lambdaBundle(empty, 'jobs-api')).toThrow(MissingLambdaBundleError);
  expect(() => lambdaBundle(empty, 'jobs-api')).toThrow(/jobs-api\/bootstrap\.zip.*make lambdas/);
});
