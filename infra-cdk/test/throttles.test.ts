/**
 * The API's per-route rates come from settings/throttles.json: in the synthesized
 * template every route key the file lists is a route of the API and carries exactly
 * the file's rate and burst in the stage's RouteSettings, every route of the API is
 * in the file (a new route needs a decided rate), the stage waits for the routes it
 * names, and the stage default is the file's unless context overrides it. The file's
 * loader and the API construct refuse what API Gateway would not take.
 */
import { App, ArnFormat, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { JobApi } from '../lib/api/job-api';
import { loadPermissionSettings } from '../lib/permission-settings';
import { loadThrottleSettings, THROTTLE_SETTINGS_PATH } from '../lib/throttle-settings';
import { resourcesIn, templateFromContext } from './support/stack';
import { Json, one, resourcesOf, template } from './support/template';

const file = JSON.parse(readFileSync(THROTTLE_SETTINGS_PATH, 'utf8'));
const fileRoutes: Record<string, { rateLimit: number; burstLimit: number }> = file.routes;
const expectedSettings = (routes: typeof fileRoutes) =>
  Object.fromEntries(
    Object.entries(routes).map(([key, t]) => [key, { ThrottlingRateLimit: t.rateLimit, ThrottlingBurstLimit: t.burstLimit }]),
  );

/** Route key -> logical id of each route of the stack's HTTP API. */
function routesOf(resources: [string, Json][]): Map<string, string> {
  return new Map(resources.map(([id, r]) => [r.Properties.RouteKey as string, id]));
}

describe('the synthesized stage', () => {
  const [, stage] = one('AWS::ApiGatewayV2::Stage', 'ApiStage');
  const routes = routesOf(resourcesOf('AWS::ApiGatewayV2::Route'));
  const settings: Record<string, Json> = stage.Properties.RouteSettings ?? {};

  test('the file lists routes, and the API has routes (neither side is empty)', () => {
    expect(Object.keys(fileRoutes).length).toBeGreaterThan(0);
    expect(routes.size).toBeGreaterThan(0);
  });

  test('every route key in the file is a route of the API', () => {
    expect(Object.keys(fileRoutes).filter((key) => !routes.has(key))).toEqual([]);
  });

  test('every route of the API has its rate in the file', () => {
    expect([...routes.keys()].filter((key) => !(key in fileRoutes))).toEqual([]);
  });

  test("each route's settings are exactly the file's rate and burst", () => {
    expect(settings).toEqual(expectedSettings(fileRoutes));
  });

  test('the stage depends on every route it names (else CloudFormation: "Unable to find Route by key")', () => {
    const dependsOn: string[] = stage.DependsOn ?? [];
    const missing = Object.keys(settings).filter((key) => !dependsOn.includes(routes.get(key)!));
    expect(missing).toEqual([]);
  });

  test("the stage default is the file's stage values (no context override in this synth)", () => {
    expect(stage.Properties.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: file.stage.rateLimit,
      ThrottlingBurstLimit: file.stage.burstLimit,
    });
  });
});

test('context apiThrottleRateLimit/apiThrottleBurstLimit override the stage default only', () => {
  const rate = file.stage.rateLimit + 7;
  const burst = file.stage.burstLimit + 3;
  const stageOf = (context: Record<string, string>) => {
    const stages = resourcesIn(templateFromContext('Throttles', context), 'AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    return stages[0][1].Properties;
  };
  const both = stageOf({ apiThrottleRateLimit: String(rate), apiThrottleBurstLimit: String(burst) });
  expect(both.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst });
  // The routes keep the file's numbers whatever the stage default.
  expect(both.RouteSettings).toEqual(expectedSettings(fileRoutes));
  // One of the two given: the other stays the file's.
  const rateOnly = stageOf({ apiThrottleRateLimit: String(rate) });
  expect(rateOnly.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: rate, ThrottlingBurstLimit: file.stage.burstLimit });
  // The shared synth is untouched by this one.
  expect(template().Resources).toBeDefined();
});

describe('loadThrottleSettings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'throttles-test-'));
  const write = (content: unknown) => {
    const path = join(dir, `t${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };
  const ok = { rateLimit: 5, burstLimit: 10 };

  test('reads the committed file as it is', () => {
    const loaded = loadThrottleSettings();
    expect(loaded.stage).toEqual(file.stage);
    expect(loaded.routes).toEqual(fileRoutes);
  });

  test.each([
    [{ stage: { rateLimit: 0, burstLimit: 10 }, routes: {} }, /stage\.rateLimit must be a number/],
    [{ stage: ok, routes: { 'GET /x': { rateLimit: 5, burstLimit: 2.5 } } }, /routes\["GET \/x"\]\.burstLimit must be a whole number/],
    [{ stage: ok, routes: { 'GET /x': { rateLimit: '5', burstLimit: 2 } } }, /rateLimit must be a number/],
    [{ stage: ok, routes: { 'GET /x': { rateLimit: 5, burstLimit: 6000 } } }, /burstLimit must be a whole number in \[1, 5000\]/],
    [{ stage: ok, routes: { '/jobs': ok } }, /"\/jobs" is not an API Gateway route key/],
    [{ stage: ok, routes: { 'FETCH /jobs': ok } }, /"FETCH \/jobs" is not an API Gateway route key/],
    [{ stage: ok }, /routes must be an object/],
  ])('refuses %j', (content, message) => {
    expect(() => loadThrottleSettings(write(content))).toThrow(message);
  });
});

describe('JobApi route throttles', () => {
  const build = (routeThrottles: Record<string, { rateLimit: number; burstLimit: number }>) => {
    const stack = new Stack(new App(), 'RouteThrottles');
    const handler = lambda.Function.fromFunctionAttributes(stack, 'Handler', {
      functionArn: stack.formatArn({ service: 'lambda', resource: 'function', resourceName: 'h', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
      sameEnvironment: true,
    });
    const { GET, POST } = apigwv2.HttpMethod;
    new JobApi(stack, 'Api', {
      routes: [
        { method: GET, path: '/jobs/{id}', handler },
        { method: POST, path: '/jobs', handler },
      ],
      permissions: { scopes: loadPermissionSettings().scopes, routes: { 'GET /jobs/{id}': 'jobs:read', 'POST /jobs': 'jobs:write' } },
      routeThrottles,
    });
    return Template.fromStack(stack);
  };

  test('a key that is no route of the API is an error naming it', () => {
    expect(() => build({ 'POST /jobs': { rateLimit: 1, burstLimit: 1 }, 'GET /job/{id}': { rateLimit: 1, burstLimit: 1 } })).toThrow(
      /route throttles name routes the API does not have: GET \/job\/\{id\}/,
    );
  });

  test('only the listed routes get settings, and the stage depends on those routes only', () => {
    const t = build({ 'GET /jobs/{id}': { rateLimit: 3, burstLimit: 4 } });
    const [stage] = Object.values(t.findResources('AWS::ApiGatewayV2::Stage'));
    const routes = routesOf(Object.entries(t.findResources('AWS::ApiGatewayV2::Route')));
    expect(stage.Properties.RouteSettings).toEqual({ 'GET /jobs/{id}': { ThrottlingRateLimit: 3, ThrottlingBurstLimit: 4 } });
    expect(stage.DependsOn).toContain(routes.get('GET /jobs/{id}'));
    expect(stage.DependsOn ?? []).not.toContain(routes.get('POST /jobs'));
  });

  test('without route throttles the stage has no route settings', () => {
    const [stage] = Object.values(build({}).findResources('AWS::ApiGatewayV2::Stage'));
    expect(stage.Properties.RouteSettings).toBeUndefined();
  });
});
