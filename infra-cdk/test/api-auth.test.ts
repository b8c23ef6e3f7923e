/**
 * The API construct's authorization per route: under the JWT authorizer the status page
 * and its assets are open (a browser loads them before it has a token) and every API
 * route needs the token; under IAM every route is signed, the page included.
 */
import { App, ArnFormat, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ApiAuthorization, JobApi } from '../lib/api/job-api';

function authorizationByRoute(authorization: ApiAuthorization): Record<string, string> {
  const stack = new Stack(new App(), 'ApiAuth');
  const handler = lambda.Function.fromFunctionAttributes(stack, 'Handler', {
    functionArn: stack.formatArn({ service: 'lambda', resource: 'function', resourceName: 'handler', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    sameEnvironment: true,
  });
  const { GET, POST } = apigwv2.HttpMethod;
  new JobApi(stack, 'Api', {
    authorization,
    routes: [
      { method: GET, path: '/', handler, page: true },
      { method: GET, path: '/console.js', handler, page: true },
      { method: GET, path: '/jobs/stats', handler },
      { method: POST, path: '/jobs', handler },
    ],
  });
  const routes = Template.fromStack(stack).findResources('AWS::ApiGatewayV2::Route');
  return Object.fromEntries(Object.values(routes).map((r) => [r.Properties.RouteKey, r.Properties.AuthorizationType]));
}

test('with the JWT authorizer the page is open and every API route needs a token', () => {
  expect(authorizationByRoute({ type: 'jwt', issuer: 'https://id.example.com', audience: ['jobs'] })).toEqual({
    'GET /': 'NONE',
    'GET /console.js': 'NONE',
    'GET /jobs/stats': 'JWT',
    'POST /jobs': 'JWT',
  });
});

test('with IAM authorization every route is signed, the page included', () => {
  expect(authorizationByRoute({ type: 'iam' })).toEqual({
    'GET /': 'AWS_IAM',
    'GET /console.js': 'AWS_IAM',
    'GET /jobs/stats': 'AWS_IAM',
    'POST /jobs': 'AWS_IAM',
  });
});
