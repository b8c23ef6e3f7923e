/**
 * The HTTP API (API Gateway v2): every route of the local router, each sent to
 * the Lambda of its route group; IAM (SigV4) authorization by default or a JWT
 * authorizer; stage throttling with per-route rates, and JSON access logs.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { Throttle } from '../throttle-settings';

/** One route: method, path (API Gateway syntax) and the function that serves it. */
export interface ApiRoute {
  readonly method: apigwv2.HttpMethod;
  readonly path: string;
  readonly handler: lambda.IFunction;
  /**
   * The status page and its assets: open to anyone under the JWT authorizer, since a
   * browser must load the page before it can send a token (its API calls still need
   * one). Under IAM authorization they stay signed like every route (a browser cannot
   * sign: `make console` serves the page then). @default false
   */
  readonly page?: boolean;
}

/** How callers authenticate. */
export type ApiAuthorization =
  | { readonly type: 'iam' }
  | { readonly type: 'jwt'; readonly issuer: string; readonly audience: string[] };

/** Props of {@link JobApi}. */
export interface JobApiProps {
  readonly routes: ApiRoute[];
  /** @default IAM (SigV4) */
  readonly authorization?: ApiAuthorization;
  /** Steady-state requests per second for the stage. @default 50 */
  readonly throttleRateLimit?: number;
  /** Burst for the stage. @default 100 */
  readonly throttleBurstLimit?: number;
  /**
   * Rate and burst per route key (`METHOD /path`), in the stage's route settings;
   * routes not named here get the stage's. Every key must be a route of `routes`
   * (a stale or misspelt key is an error, not a silently unthrottled route).
   * @default none: every route gets the stage's
   */
  readonly routeThrottles?: Readonly<Record<string, Throttle>>;
  /** Access log retention. @default one month */
  readonly logRetention?: logs.RetentionDays;
}

/** The API, its `$default` stage and access log group. */
export class JobApi extends Construct {
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: JobApiProps) {
    super(scope, id);
    const auth = props.authorization ?? { type: 'iam' };
    const authorizer =
      auth.type === 'iam'
        ? new HttpIamAuthorizer()
        : new HttpJwtAuthorizer('Jwt', auth.issuer, { jwtAudience: auth.audience });
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Job API: submit, inspect and schedule jobs',
      createDefaultStage: false,
      defaultAuthorizer: authorizer,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigwv2.HttpStage(this, 'Stage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 50, burstLimit: props.throttleBurstLimit ?? 100 },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.caller',
            userArn: '$context.identity.userArn',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
          }),
        ),
      },
    });
    const integrations = new Map<lambda.IFunction, HttpLambdaIntegration>();
    const routes = new Map<string, apigwv2.HttpRoute>();
    for (const route of props.routes) {
      let integration = integrations.get(route.handler);
      if (!integration) {
        integration = new HttpLambdaIntegration(`Integration${integrations.size}`, route.handler, {
          payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
        });
        integrations.set(route.handler, integration);
      }
      const open = route.page === true && auth.type === 'jwt';
      const [added] = this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        ...(open ? { authorizer: new apigwv2.HttpNoneAuthorizer() } : {}),
      });
      routes.set(`${route.method} ${route.path}`, added);
    }
    this.applyRouteThrottles(routes, props.routeThrottles ?? {});
  }

  /**
   * Per-route throttling through the L1 stage (the L2 HttpStage has only the stage
   * default). A stage's route settings must name existing routes: CloudFormation fails
   * with "Unable to find Route by key" otherwise, so the stage waits for them.
   */
  private applyRouteThrottles(routes: Map<string, apigwv2.HttpRoute>, throttles: Readonly<Record<string, Throttle>>): void {
    const unknown = Object.keys(throttles).filter((key) => !routes.has(key));
    if (unknown.length) {
      throw new Error(`route throttles name routes the API does not have: ${unknown.join(', ')}`);
    }
    const entries = Object.entries(throttles);
    if (!entries.length) return;
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    // RouteSettings is a JSON map in CloudFormation's schema: written as-is, so in its own spelling.
    cfnStage.routeSettings = Object.fromEntries(
      entries.map(([key, t]) => [key, { ThrottlingRateLimit: t.rateLimit, ThrottlingBurstLimit: t.burstLimit }]),
    );
    for (const [key] of entries) this.stage.node.addDependency(routes.get(key)!);
  }

  /** The stage's invoke URL. */
  get url(): string {
    return this.stage.url;
  }
}
