/**
 * The API construct's authorization per route, from the permissions: under the JWT
 * authorizer a permission's route asks for its scope, an authenticated one for a token
 * only, and the public ones (the status page and its assets: a browser loads them before
 * it has a token) are open; under IAM every route is signed, the page included, with no
 * scopes. A route the permissions do not name, or a name that is no route, fails; so
 * does a claim the access log cannot carry.
 */
import { App, ArnFormat, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ApiAuthorization, JobApi } from '../lib/api/job-api';
import { PermissionSettings, RouteAccess } from '../lib/permission-settings';

const JWT: ApiAuthorization = { type: 'jwt', issuer: 'https://id.example.com', audience: ['jobs'] };
const SCOPES: PermissionSettings['scopes'] = {
  'jobs:read': 'jobs:read',
  'jobs:write': 'jobs:write',
  'schedules:read': 'schedules:read',
  'schedules:write': 'schedules:write',
};
const ROUTES: Record<string, RouteAccess> = {
  'GET /': 'public',
  'GET /console.js': 'public',
  'GET /openapi.json': 'authenticated',
  'GET /jobs/stats': 'jobs:read',
  'POST /jobs': 'jobs:write',
  'DELETE /jobs/schedules/{name}': 'schedules:write',
};

function build(authorization: ApiAuthorization, routes: Record<string, RouteAccess> = ROUTES, apiRoutes: string[] = Object.keys(ROUTES)) {
  const stack = new Stack(new App(), 'ApiAuth');
  const handler = lambda.Function.fromFunctionAttributes(stack, 'Handler', {
    functionArn: stack.formatArn({ service: 'lambda', resource: 'function', resourceName: 'handler', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    sameEnvironment: true,
  });
  new JobApi(stack, 'Api', {
    authorization,
    permissions: { scopes: SCOPES, routes },
    routes: apiRoutes.map((key) => {
      const [method, path] = key.split(' ');
      return { method: method as apigwv2.HttpMethod, path, handler };
    }),
  });
  return Template.fromStack(stack);
}

function authorizationByRoute(authorization: ApiAuthorization): Record<string, [string, string[] | undefined]> {
  const routes = build(authorization).findResources('AWS::ApiGatewayV2::Route');
  return Object.fromEntries(
    Object.values(routes).map((r) => [r.Properties.RouteKey, [r.Properties.AuthorizationType, r.Properties.AuthorizationScopes]]),
  );
}

function accessLogFormat(authorization: ApiAuthorization): Record<string, string> {
  const [stage] = Object.values(build(authorization).findResources('AWS::ApiGatewayV2::Stage'));
  return JSON.parse(stage.Properties.AccessLogSettings.Format);
}

test('with the JWT authorizer each route asks for the scope of its permission; the page is open', () => {
  expect(authorizationByRoute(JWT)).toEqual({
    'GET /': ['NONE', undefined],
    'GET /console.js': ['NONE', undefined],
    'GET /openapi.json': ['JWT', undefined],
    'GET /jobs/stats': ['JWT', ['jobs:read']],
    'POST /jobs': ['JWT', ['jobs:write']],
    'DELETE /jobs/schedules/{name}': ['JWT', ['schedules:write']],
  });
});

test('renamed scopes replace only the ones renamed', () => {
  const byRoute = authorizationByRoute({ ...JWT, scopes: { 'jobs:write': 'api/jobs.submit' } });
  expect(byRoute['POST /jobs']).toEqual(['JWT', ['api/jobs.submit']]);
  expect(byRoute['GET /jobs/stats']).toEqual(['JWT', ['jobs:read']]);
});

test('with IAM authorization every route is signed, the page included, and none has scopes', () => {
  expect(authorizationByRoute({ type: 'iam' })).toEqual(
    Object.fromEntries(Object.keys(ROUTES).map((key) => [key, ['AWS_IAM', undefined]])),
  );
});

test('a route the permissions do not name, and a name that is no route, are errors naming them', () => {
  const { 'GET /openapi.json': _, ...withoutOpenApi } = ROUTES;
  expect(() => build(JWT, withoutOpenApi)).toThrow(/routes of the API that the permissions do not name: GET \/openapi\.json/);
  expect(() => build({ type: 'iam' }, { ...ROUTES, 'GET /jobs/{id}': 'jobs:read' })).toThrow(
    /the permissions name routes the API does not have: GET \/jobs\/\{id\}/,
  );
});

test('the access log names the caller: the IAM fields always, the token claims under JWT', () => {
  const iam = accessLogFormat({ type: 'iam' });
  expect(iam).toMatchObject({ caller: '$context.identity.caller', userArn: '$context.identity.userArn' });
  expect(iam.principal).toBeUndefined();
  expect(accessLogFormat(JWT)).toMatchObject({
    caller: '$context.identity.caller',
    userArn: '$context.identity.userArn',
    principal: '$context.authorizer.claims.sub',
    clientId: '$context.authorizer.claims.client_id',
    authorizedParty: '$context.authorizer.claims.azp',
  });
  expect(accessLogFormat(JWT).tenant).toBeUndefined();
  expect(accessLogFormat({ ...JWT, principalClaim: 'username', tenantClaim: 'tenant_id' })).toMatchObject({
    principal: '$context.authorizer.claims.username',
    tenant: '$context.authorizer.claims.tenant_id',
  });
  expect(() => accessLogFormat({ ...JWT, tenantClaim: 'custom:tenant' })).toThrow(/tenantClaim "custom:tenant": a \$context variable/);
});
