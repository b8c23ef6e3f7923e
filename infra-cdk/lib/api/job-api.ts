/**
 * The HTTP API (API Gateway v2): every route of the local router, each sent to
 * the Lambda of its route group; IAM (SigV4) authorization by default or a JWT
 * authorizer that asks each route for the scope of its permission
 * (`settings/permissions.json`); stage throttling with per-route rates, and JSON
 * access logs that name the caller.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { Permission, PermissionSettings, renameScopes, RouteAccess } from '../permission-settings';
import { Throttle } from '../throttle-settings';

/**
 * One route: method, path (API Gateway syntax) and the function that serves it. What
 * it needs (a permission, `authenticated` or `public`) is its route key's entry in
 * {@link JobApiProps.permissions}.
 */
export interface ApiRoute {
  readonly method: apigwv2.HttpMethod;
  readonly path: string;
  readonly handler: lambda.IFunction;
}

/** The JWT authorizer's issuer and audience, and the token claims the API reads. */
export interface JwtAuthorization {
  readonly type: 'jwt';
  /** The issuer URL (https). */
  readonly issuer: string;
  /** Accepted audiences (`aud`, or `client_id` of an access token). */
  readonly audience: string[];
  /**
   * Scope names replacing those of `settings/permissions.json`, per permission
   * (context value `jwtScopes`). @default the file's
   */
  readonly scopes?: Readonly<Partial<Record<Permission, string>>>;
  /**
   * The claim naming the caller (`JOBS_PRINCIPAL_CLAIM`; the access log's `principal`):
   * letters, digits and underscores only, since it appears in a `$context` variable.
   * @default {@link DEFAULT_PRINCIPAL_CLAIM}
   */
  readonly principalClaim?: string;
  /**
   * A claim naming the caller's tenant (`JOBS_TENANT_CLAIM`; the access log's `tenant`):
   * the principal is recorded as `<tenant>/<principal>`. Same characters as
   * {@link principalClaim}. @default none: the principal alone
   */
  readonly tenantClaim?: string;
  /** The claim listing the caller's groups (`JOBS_GROUPS_CLAIM`). @default {@link DEFAULT_GROUPS_CLAIM} */
  readonly groupsClaim?: string;
  /** A scope that makes its token's caller an admin (`JOBS_ADMIN_SCOPE`). @default none */
  readonly adminScope?: string;
  /** Groups (in {@link groupsClaim}) whose members are admins (`JOBS_ADMIN_GROUPS`). @default none */
  readonly adminGroups?: string[];
}

/** How callers authenticate. */
export type ApiAuthorization = { readonly type: 'iam' } | JwtAuthorization;

/** The principal claim when none is named: the token's subject. */
export const DEFAULT_PRINCIPAL_CLAIM = 'sub';
/** The groups claim when none is named: Amazon Cognito's. */
export const DEFAULT_GROUPS_CLAIM = 'cognito:groups';
/** A claim name `$context.authorizer.claims.<name>` can carry: API Gateway reads no other characters in it. */
export const LOGGABLE_CLAIM = /^[A-Za-z0-9_]+$/;

/** Props of {@link JobApi}. */
export interface JobApiProps {
  readonly routes: ApiRoute[];
  /**
   * What each route needs, by route key (`settings/permissions.json`), and the scope
   * granting each permission. Every route must be named and every name must be a route
   * (a route without a decided permission, or a stale key, is an error at synth).
   */
  readonly permissions: PermissionSettings;
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
  /** The routes open to anyone: the `public` ones under the JWT authorizer; none under IAM. */
  public readonly openRoutes: apigwv2.HttpRoute[] = [];

  constructor(scope: Construct, id: string, props: JobApiProps) {
    super(scope, id);
    const auth = props.authorization ?? { type: 'iam' };
    checkEveryRouteNamed(
      props.routes.map((route) => `${route.method} ${route.path}`),
      props.permissions,
    );
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
            ...(auth.type === 'jwt' ? jwtCallerFields(auth) : {}),
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
    const scopes = renameScopes(props.permissions.scopes, auth.type === 'jwt' ? auth.scopes : undefined);
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
      const key = `${route.method} ${route.path}`;
      const access = props.permissions.routes[key];
      const [added] = this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        ...(auth.type === 'jwt' ? jwtRouteAuthorization(access, scopes) : {}),
      });
      routes.set(key, added);
      if (auth.type === 'jwt' && access === 'public') this.openRoutes.push(added);
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

/**
 * The permissions and the routes name the same route keys: a route without a decided
 * permission, or a permission of no route (stale, misspelt), fails the synth.
 */
function checkEveryRouteNamed(keys: string[], permissions: PermissionSettings): void {
  const unnamed = keys.filter((key) => !Object.hasOwn(permissions.routes, key));
  if (unnamed.length) {
    throw new Error(`routes of the API that the permissions do not name: ${unnamed.join(', ')}`);
  }
  const unknown = Object.keys(permissions.routes).filter((key) => !keys.includes(key));
  if (unknown.length) {
    throw new Error(`the permissions name routes the API does not have: ${unknown.join(', ')}`);
  }
}

/**
 * A route's authorization under the JWT authorizer (the API's default): a permission's
 * route asks for its scope; an `authenticated` one for a valid token only; a `public` one
 * (the status page and its assets: a browser loads them before it has a token, they hold
 * no data) for nothing. Under IAM every route is signed and no scope applies.
 */
function jwtRouteAuthorization(
  access: RouteAccess,
  scopes: Readonly<Record<Permission, string>>,
): Pick<apigwv2.AddRoutesOptions, 'authorizer' | 'authorizationScopes'> {
  if (access === 'public') return { authorizer: new apigwv2.HttpNoneAuthorizer() };
  if (access === 'authenticated') return {};
  return { authorizationScopes: [scopes[access]] };
}

/** The access log's fields naming a token's caller: its principal (and tenant) claim and the client it was issued to. */
function jwtCallerFields(auth: JwtAuthorization): Record<string, string> {
  const claim = (name: string, prop: string): string => {
    if (!LOGGABLE_CLAIM.test(name)) {
      throw new Error(`${prop} ${JSON.stringify(name)}: a $context variable can carry only letters, digits and underscores`);
    }
    return `$context.authorizer.claims.${name}`;
  };
  return {
    principal: claim(auth.principalClaim ?? DEFAULT_PRINCIPAL_CLAIM, 'principalClaim'),
    ...(auth.tenantClaim !== undefined ? { tenant: claim(auth.tenantClaim, 'tenantClaim') } : {}),
    clientId: '$context.authorizer.claims.client_id',
    authorizedParty: '$context.authorizer.claims.azp',
  };
}
