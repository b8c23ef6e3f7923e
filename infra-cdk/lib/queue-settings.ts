/**
 * The queue and table settings shared with local provisioning (local-dev) and the cdk8s
 * chart's worker defaults: one JSON file at the repository root
 * (`settings/queue.json`), read here and checked by a test in each package.
 */
import { readFileSync } from 'fs';
import { join } from 'path';

/** The shared settings. */
export interface QueueSettings {
  /** Default visibility timeout of the job queue, and the worker's heartbeat window. */
  readonly visibilityTimeoutSecs: number;
  /** Receives after which a job message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** How long the dead-letter queues keep messages. */
  readonly deadLetterRetentionDays: number;
  /** The table's key and TTL attribute names, as the Rust store writes them. */
  readonly table: {
    readonly partitionKey: string;
    readonly timeToLiveAttribute: string;
    /** The indexes `GET /jobs` queries (job-core/src/listing.rs). */
    readonly listingIndexes: ListingIndexes;
  };
}

/** One listing index: its name and string partition key; sorted by {@link ListingIndexes.sortKey}. */
export interface ListingIndex {
  readonly name: string;
  readonly partitionKey: string;
}

/** The listing indexes: by time, by status and by submitter, with the attributes a listed row shows. */
export interface ListingIndexes {
  readonly sortKey: string;
  readonly byTime: ListingIndex;
  readonly byStatus: ListingIndex;
  /** One caller's jobs (`GET /jobs?submittedBy=`), partitioned by the submitting principal. */
  readonly bySubmitter: ListingIndex;
  readonly projected: string[];
}

/** Every listing index, in the file's order: what the table creates and the grants name. */
export function allListingIndexes(indexes: ListingIndexes): ListingIndex[] {
  return [indexes.byTime, indexes.byStatus, indexes.bySubmitter];
}

/** Where the file is. */
export const QUEUE_SETTINGS_PATH = join(__dirname, '..', '..', 'settings', 'queue.json');

/** Reads and checks the shared settings. */
export function loadQueueSettings(path: string = QUEUE_SETTINGS_PATH): QueueSettings {
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  const whole = (name: string, value: unknown, min: number, max: number): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${path}: ${name} must be a whole number in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const text = (name: string, value: unknown): string => {
    if (typeof value !== 'string' || value.trim() === '') {
      throw new Error(`${path}: ${name} must be a non-empty string`);
    }
    return value;
  };
  return {
    // SQS limits: visibility 0..43200 s, maxReceiveCount 1..1000, retention 1 min..14 days.
    visibilityTimeoutSecs: whole('visibilityTimeoutSecs', raw.visibilityTimeoutSecs, 0, 43_200),
    maxReceiveCount: whole('maxReceiveCount', raw.maxReceiveCount, 1, 1000),
    deadLetterRetentionDays: whole('deadLetterRetentionDays', raw.deadLetterRetentionDays, 1, 14),
    table: {
      partitionKey: text('table.partitionKey', raw.table?.partitionKey),
      timeToLiveAttribute: text('table.timeToLiveAttribute', raw.table?.timeToLiveAttribute),
      listingIndexes: listingIndexes(raw.table?.listingIndexes, text),
    },
  };
}

function listingIndexes(raw: any, text: (name: string, value: unknown) => string): ListingIndexes {
  const index = (key: string): ListingIndex => ({
    name: text(`table.listingIndexes.${key}.name`, raw?.[key]?.name),
    partitionKey: text(`table.listingIndexes.${key}.partitionKey`, raw?.[key]?.partitionKey),
  });
  const projected: unknown = raw?.projected;
  if (!Array.isArray(projected) || projected.length === 0) {
    throw new Error('table.listingIndexes.projected must be a non-empty list of attribute names');
  }
  return {
    sortKey: text('table.listingIndexes.sortKey', raw?.sortKey),
    byTime: index('byTime'),
    byStatus: index('byStatus'),
    bySubmitter: index('bySubmitter'),
    projected: projected.map((name, i) => text(`table.listingIndexes.projected[${i}]`, name)),
  };
}
