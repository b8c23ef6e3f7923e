/**
 * Who may call what, in the whole synthesized stack: under the JWT authorizer every route
 * of the HTTP API asks for exactly the scope `settings/permissions.json` gives its
 * permission (read here from the file itself), public routes are open and authenticated
 * ones need a token with no scope; `jwtScopes` renames show up on the routes; under IAM no
 * route has scopes. The API Lambdas (and only they) get the caller environment, and the
 * access log names a token's caller. The file's loader refuses what the API could not use.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ContextError } from '../lib/app-config';
import { loadPermissionSettings, PERMISSION_SETTINGS_PATH, PERMISSIONS } from '../lib/permission-settings';
import { resourcesIn, templateFromContext } from './support/stack';
import { Json, one, Template, template } from './support/template';

const file = JSON.parse(readFileSync(PERMISSION_SETTINGS_PATH, 'utf8'));
const fileRoutes: Record<string, string> = file.routes;
/** The file's scope of each permission (its default: the permission's name). */
const fileScopes: Record<string, string> = Object.fromEntries(PERMISSIONS.map((p) => [p, file.scopes?.[p] ?? p]));

const JWT_CONTEXT = { apiAuth: 'jwt', jwtIssuer: 'https://id.example.com', jwtAudience: 'jobs' };
const RENAMES = { 'jobs:write': 'https://jobs.example.com/submit', 'schedules:read': 'jobs-api/schedules.list' };
const ADMIN_PATTERNS = ['arn:aws:sts::*:assumed-role/JobsAdmin/*', 'arn:aws:iam::*:user/ops'];

/** Each synth once, when a test first needs it. */
const memo = <T>(make: () => T): (() => T) => {
  let made: T | undefined;
  return () => (made ??= make());
};
const jwtDefaults = memo(() => templateFromContext('JwtDefaults', JWT_CONTEXT));
const jwtConfigured = memo(() =>
  templateFromContext('JwtConfigured', {
    ...JWT_CONTEXT,
    jwtScopes: JSON.stringify(RENAMES),
    jwtPrincipalClaim: 'username',
    jwtTenantClaim: 'tenant_id',
    jwtGroupsClaim: 'groups',
    adminScope: 'jobs-api/admin',
    adminGroups: 'ops, oncall',
    adminPrincipals: 'ops-*',
  }),
);
const iamAdmins = memo(() => templateFromContext('IamAdmins', { adminPrincipals: ADMIN_PATTERNS.join(',') }));
/** The shared synth: IAM, no admins, every default. */
const iamDefaults = (): Template => template();

/** RouteKey -> [AuthorizationType, AuthorizationScopes] of every route. */
function authorization(t: Template): Record<string, [string, string[] | undefined]> {
  return Object.fromEntries(
    resourcesIn(t, 'AWS::ApiGatewayV2::Route').map(([, r]) => [
      r.Properties.RouteKey,
      [r.Properties.AuthorizationType, r.Properties.AuthorizationScopes],
    ]),
  );
}

/** What the file says each route gets under JWT, with the scope names `scopes`. */
function expectedUnderJwt(scopes: Record<string, string>): Record<string, [string, string[] | undefined]> {
  return Object.fromEntries(
    Object.entries(fileRoutes).map(([key, access]) => [
      key,
      access === 'public' ? ['NONE', undefined] : access === 'authenticated' ? ['JWT', undefined] : ['JWT', [scopes[access]]],
    ]),
  );
}

/** The environment of each API Lambda, and of every other function. */
function environments(t: Template): { api: Record<string, Json>[]; others: Record<string, Json>[] } {
  const functions = resourcesIn(t, 'AWS::Lambda::Function');
  const isApi = (id: string) => ['JobsApiFunction', 'StatsApiFunction', 'SchedulesApiFunction'].some((p) => id.startsWith(p));
  const env = (fn: Json) => fn.Properties.Environment?.Variables ?? {};
  const api = functions.filter(([id]) => isApi(id)).map(([, fn]) => env(fn));
  expect(api).toHaveLength(3);
  return { api, others: functions.filter(([id]) => !isApi(id)).map(([, fn]) => env(fn)) };
}

const CALLER_VARIABLES = ['JOBS_AUTH', 'JOBS_JWT_SCOPES', 'JOBS_PRINCIPAL_CLAIM', 'JOBS_GROUPS_CLAIM', 'JOBS_TENANT_CLAIM', 'JOBS_ADMIN_SCOPE', 'JOBS_ADMIN_GROUPS', 'JOBS_ADMINS'];
const callerVariables = (env: Record<string, Json>) => Object.fromEntries(Object.entries(env).filter(([k]) => CALLER_VARIABLES.includes(k)));

function accessLogFormat(t: Template): Record<string, string> {
  const stages = resourcesIn(t, 'AWS::ApiGatewayV2::Stage');
  expect(stages).toHaveLength(1);
  return JSON.parse(stages[0][1].Properties.AccessLogSettings.Format);
}

describe('routes', () => {
  test('the file names every route of the API and nothing else', () => {
    expect(Object.keys(authorization(iamDefaults())).sort()).toEqual(Object.keys(fileRoutes).sort());
    // Every kind of route is there, so the comparisons below cover each.
    expect(new Set(Object.values(fileRoutes))).toEqual(new Set([...PERMISSIONS, 'public', 'authenticated']));
  });

  test("under JWT each route asks for its permission's scope; public is open, authenticated needs a token only", () => {
    expect(authorization(jwtDefaults())).toEqual(expectedUnderJwt(fileScopes));
  });

  test('jwtScopes renames reach the routes; the permissions not renamed keep the file scope', () => {
    expect(authorization(jwtConfigured())).toEqual(expectedUnderJwt({ ...fileScopes, ...RENAMES }));
  });

  test('under IAM every route is signed and none has scopes', () => {
    for (const t of [iamDefaults(), iamAdmins()]) {
      expect(authorization(t)).toEqual(Object.fromEntries(Object.keys(fileRoutes).map((key) => [key, ['AWS_IAM', undefined]])));
    }
  });
});

describe('the API Lambdas learn how to find the caller', () => {
  test('IAM: JOBS_AUTH only; with adminPrincipals also JOBS_ADMINS', () => {
    for (const env of environments(iamDefaults()).api) expect(callerVariables(env)).toEqual({ JOBS_AUTH: 'iam' });
    for (const env of environments(iamAdmins()).api) {
      expect(callerVariables(env)).toEqual({ JOBS_AUTH: 'iam', JOBS_ADMINS: ADMIN_PATTERNS.join(',') });
    }
  });

  test('JWT defaults: every scope of the file, the sub and cognito:groups claims, nothing optional', () => {
    for (const env of environments(jwtDefaults()).api) {
      expect(callerVariables(env)).toEqual({
        JOBS_AUTH: 'jwt',
        JOBS_JWT_SCOPES: expect.any(String),
        JOBS_PRINCIPAL_CLAIM: 'sub',
        JOBS_GROUPS_CLAIM: 'cognito:groups',
      });
      expect(JSON.parse(env.JOBS_JWT_SCOPES)).toEqual(fileScopes);
    }
  });

  test('JWT configured: renamed scopes (still all four), the claims, admin scope, groups and principals', () => {
    for (const env of environments(jwtConfigured()).api) {
      expect(callerVariables(env)).toEqual({
        JOBS_AUTH: 'jwt',
        JOBS_JWT_SCOPES: expect.any(String),
        JOBS_PRINCIPAL_CLAIM: 'username',
        JOBS_GROUPS_CLAIM: 'groups',
        JOBS_TENANT_CLAIM: 'tenant_id',
        JOBS_ADMIN_SCOPE: 'jobs-api/admin',
        JOBS_ADMIN_GROUPS: 'ops,oncall',
        JOBS_ADMINS: 'ops-*',
      });
      const scopes = JSON.parse(env.JOBS_JWT_SCOPES);
      expect(Object.keys(scopes).sort()).toEqual([...PERMISSIONS].sort());
      expect(scopes).toEqual({ ...fileScopes, ...RENAMES });
    }
  });

  test('no other function gets them', () => {
    for (const t of [iamDefaults(), jwtConfigured()]) {
      const { others } = environments(t);
      expect(others.length).toBeGreaterThan(0);
      for (const env of others) expect(callerVariables(env)).toEqual({});
    }
  });
});

describe('access log', () => {
  const iamFields = { caller: '$context.identity.caller', userArn: '$context.identity.userArn' };

  test('IAM: the signer only', () => {
    const format = accessLogFormat(iamDefaults());
    expect(format).toMatchObject(iamFields);
    for (const field of ['principal', 'tenant', 'clientId', 'authorizedParty']) expect(format[field]).toBeUndefined();
  });

  test("JWT: the principal claim, the token's client and authorized party; the tenant when configured", () => {
    const defaults = accessLogFormat(jwtDefaults());
    expect(defaults).toMatchObject({
      ...iamFields,
      principal: '$context.authorizer.claims.sub',
      clientId: '$context.authorizer.claims.client_id',
      authorizedParty: '$context.authorizer.claims.azp',
    });
    expect(defaults.tenant).toBeUndefined();
    expect(accessLogFormat(jwtConfigured())).toMatchObject({
      principal: '$context.authorizer.claims.username',
      tenant: '$context.authorizer.claims.tenant_id',
    });
  });
});

test('a bad context value fails the synth with a ContextError naming it', () => {
  const synth = (context: Record<string, string>) => () => templateFromContext('Bad', context);
  expect(synth({ ...JWT_CONTEXT, jwtTenantClaim: 'custom:tenant' })).toThrow(ContextError);
  expect(synth({ ...JWT_CONTEXT, jwtScopes: '{"jobs:admin":"x"}' })).toThrow(/context value jwtScopes: "jobs:admin" is no permission/);
  expect(synth({ jwtPrincipalClaim: 'email' })).toThrow(/context value jwtPrincipalClaim: only for apiAuth=jwt/);
});

test('the shared synth is the IAM one', () => {
  expect(one('AWS::ApiGatewayV2::Api', 'ApiHttpApi')).toBeDefined();
  expect(resourcesIn(iamDefaults(), 'AWS::ApiGatewayV2::Authorizer')).toEqual([]);
});

describe('loadPermissionSettings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'permissions-test-'));
  const write = (content: unknown) => {
    const path = join(dir, `p${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };

  test('reads the committed file as it is', () => {
    const loaded = loadPermissionSettings();
    expect(loaded.routes).toEqual(fileRoutes);
    expect(loaded.scopes).toEqual(fileScopes);
  });

  test('a permission the file gives no scope is granted by the scope of its own name', () => {
    const loaded = loadPermissionSettings(write({ scopes: { 'jobs:read': 'api/read' }, routes: { 'GET /jobs': 'jobs:read' } }));
    expect(loaded.scopes).toEqual({ 'jobs:read': 'api/read', 'jobs:write': 'jobs:write', 'schedules:read': 'schedules:read', 'schedules:write': 'schedules:write' });
  });

  test.each([
    [{ routes: { 'GET /jobs': 'jobs:list' } }, /routes\["GET \/jobs"\] must be public, authenticated or one of jobs:read/],
    [{ routes: { '/jobs': 'jobs:read' } }, /"\/jobs" is not an API Gateway route key/],
    [{ routes: { $default: 'public' } }, /"\$default" is not an API Gateway route key/],
    [{ scopes: { 'jobs:admin': 'x' }, routes: {} }, /scopes names "jobs:admin", which is no permission/],
    [{ scopes: { 'jobs:read': 'two words' }, routes: {} }, /scopes\["jobs:read"\] must be a scope name/],
    [{ scopes: { 'jobs:read': '' }, routes: {} }, /scopes\["jobs:read"\] must be a scope name/],
    [{ scopes: {} }, /routes must be an object/],
  ])('refuses %j', (content, message) => {
    expect(() => loadPermissionSettings(write(content))).toThrow(message);
  });
});
