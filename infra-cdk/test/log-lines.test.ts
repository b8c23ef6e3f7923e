/**
 * Every metric filter of the stack matches log messages that job-core's `log_lines.rs`
 * defines, and every line defined there is written by the Rust code and matched by a
 * filter: rewording a log line fails here instead of silently zeroing a metric.
 */
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { Json, resourcesOf } from './support/template';
import { PACKAGE_DIR } from './support/paths';

const REPO = join(PACKAGE_DIR, '..');

/** `NAME` → message, from `pub const NAME: &str = "message";` lines. */
function logLines(): Map<string, string> {
  const rust = readFileSync(join(REPO, 'job-core', 'src', 'log_lines.rs'), 'utf8');
  return new Map([...rust.matchAll(/pub const ([A-Z_]+): &str = "([^"]+)";/g)].map((m) => [m[1], m[2]]));
}

function rustSources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return rustSources(path);
    return path.endsWith('.rs') ? [path] : [];
  });
}

/** The messages a filter pattern matches on (`....message = "x"`). */
function messagesOf(pattern: string): string[] {
  return [...pattern.matchAll(/message = "([^"]+)"/g)].map((m) => m[1]);
}

const filters: Json[] = resourcesOf('AWS::Logs::MetricFilter').map(([, r]) => r.Properties);
const lines = logLines();

test('log_lines.rs defines the lines', () => {
  expect(lines.size).toBeGreaterThanOrEqual(6);
});

test("every metric filter's messages are log_lines.rs lines", () => {
  const known = new Set(lines.values());
  const byMessage = filters.filter((f) => /message/.test(f.FilterPattern));
  expect(byMessage.length).toBeGreaterThanOrEqual(6);
  for (const filter of byMessage) {
    for (const message of messagesOf(filter.FilterPattern)) {
      expect([filter.MetricTransformations[0].MetricName, known.has(message) ? 'known' : message]).toEqual([
        filter.MetricTransformations[0].MetricName,
        'known',
      ]);
    }
  }
});

test('every line is matched by a filter and written through its constant', () => {
  const matched = new Set(filters.flatMap((f) => messagesOf(f.FilterPattern)));
  const code = ['job-core', 'lambdas', 'data-processor']
    .flatMap((crate) => rustSources(join(REPO, crate, 'src')))
    .filter((path) => !path.endsWith('log_lines.rs'))
    .map((path) => readFileSync(path, 'utf8'))
    .join('\n');
  for (const [name, message] of lines) {
    expect([name, matched.has(message)]).toEqual([name, true]);
    // Written as `"{NAME}"` in a tracing macro, never as the bare text.
    expect([name, code.includes(`"{${name}}"`)]).toEqual([name, true]);
    expect([name, code.includes(`"${message}"`)]).toEqual([name, false]);
  }
});
