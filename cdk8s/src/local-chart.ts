/**
 * The chart for a laptop: kind plus LocalStack (`make kind-up`). Turns a few
 * local settings into JobWorkerChart props: every AWS call to the LocalStack
 * endpoint, LocalStack's test keys in a Secret for the worker and for KEDA
 * (there is no pod identity outside EKS), no Karpenter objects (kind has
 * none), and the image that `kind load` put on the nodes.
 */
import { ContainerImage } from './image';
import { JobWorkerChartProps } from './job-worker-chart';
import { WorkerSettings } from './worker-settings';

/** Where pods in kind reach LocalStack: its container, attached to kind's network under this name. */
export const LOCAL_AWS_ENDPOINT = 'http://localstack:4566';

/** The image `make kind-up` builds and loads into the kind nodes. */
export const LOCAL_IMAGE: ContainerImage = { repository: 'data-processor', tag: 'dev' };

/** Settings of the local chart. */
export interface LocalChartOptions {
  /** Queue URL, as `provision` printed it. */
  readonly queueUrl: string;
  /** Table name, as `provision` printed it. */
  readonly tableName: string;
  /** Region the resources were created in. @default 'us-east-1' */
  readonly region?: string;
  /** LocalStack as the pods see it. @default LOCAL_AWS_ENDPOINT */
  readonly awsEndpointUrl?: string;
  /** The image loaded into the nodes. @default LOCAL_IMAGE */
  readonly image?: ContainerImage;
  /** Jobs running at once. @default 4 */
  readonly maxReplicaCount?: number;
  /** Worker tunables. @default the worker's defaults */
  readonly worker?: WorkerSettings;
  /** Namespace. @default 'jobs' */
  readonly namespace?: string;
}

/** The TCP port of an http(s) endpoint URL (explicit, or the scheme's default). */
export function endpointPort(url: string): number {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`awsEndpointUrl must be an http(s) URL, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`awsEndpointUrl must be an http(s) URL, got '${url}'`);
  }
  return parsed.port !== '' ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
}

/** JobWorkerChart props for kind + LocalStack. */
export function localChartProps(options: LocalChartOptions): JobWorkerChartProps {
  const awsEndpointUrl = options.awsEndpointUrl ?? LOCAL_AWS_ENDPOINT;
  const port = endpointPort(awsEndpointUrl);
  return {
    namespace: options.namespace ?? 'jobs',
    queueUrl: options.queueUrl,
    tableName: options.tableName,
    region: options.region ?? 'us-east-1',
    image: options.image ?? LOCAL_IMAGE,
    // Loaded into the nodes by `kind load`; there is no registry to pull from.
    imagePullPolicy: 'Never',
    worker: options.worker,
    scaling: { maxReplicaCount: options.maxReplicaCount ?? 4, pollingIntervalSecs: 5 },
    awsEndpointUrl,
    // LocalStack accepts any keys; these are its documented test keys, not secrets.
    staticCredentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    nodes: false,
    networkPolicy: { extraEgressTcpPorts: port === 443 ? [] : [port] },
  };
}
