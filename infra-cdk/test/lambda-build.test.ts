/**
 * One real Lambda build: cargo-lambda (from the tools venv, zig as the cross
 * linker) builds the stats-api binary for arm64 in release, as `make lambdas`
 * does for all of them, and the zip must hold an aarch64 ELF `bootstrap`.
 * Only one binary: the release build of the AWS SDK for aarch64 takes minutes.
 */
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { REPO_DIR } from './support/paths';
import { requireTool, runTool } from './support/tools';

const BINARY = 'stats-api';
// Measured: about 25 minutes on two cores shared with two other release builds; far less when
// warm (target/ is shared with `make lambdas`). The limit only guards against a hang.
const BUILD_TIMEOUT_MS = 45 * 60_000;

test(
  `cargo lambda builds ${BINARY} as an arm64 zip with an aarch64 bootstrap`,
  () => {
    requireTool('cargo-lambda', ['lambda', '--version']);
    const out = mkdtempSync(join(tmpdir(), 'lambda-zip-'));
    const started = Date.now();
    const build = runTool(
      'cargo',
      ['lambda', 'build', '--release', '--arm64', '--output-format', 'zip', '--lambda-dir', out, '--bin', BINARY],
      { cwd: REPO_DIR, timeoutMs: BUILD_TIMEOUT_MS },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    expect({ status: build.status, stderr: build.status === 0 ? '' : build.stderr.slice(-4000) }).toEqual({ status: 0, stderr: '' });
    process.stdout.write(`cargo lambda build --release --arm64 --bin ${BINARY}: ${seconds} s\n`);

    const zip = join(out, BINARY, 'bootstrap.zip');
    expect(existsSync(zip)).toBe(true);
    // Read the zip's entry with Python's zipfile (python3 is a prerequisite of the tests).
    const entry = spawnSync(
      'python3',
      ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(",".join(z.namelist())); sys.stdout.flush(); sys.stdout.buffer.write(z.read("bootstrap")[:20].hex().encode())', zip],
      { encoding: 'utf8' },
    );
    expect(entry.status).toBe(0);
    const [names, headerHex] = entry.stdout.split('\n');
    expect(names.split(',')).toEqual(['bootstrap']);
    const header = Buffer.from(headerHex, 'hex');
    expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(header[4]).toBe(2); // ELFCLASS64
    expect(header[5]).toBe(1); // little endian
    expect(header.readUInt16LE(18)).toBe(183); // e_machine EM_AARCH64
    expect(readFileSync(zip).length).toBeGreaterThan(100_000);
  },
  BUILD_TIMEOUT_MS + 60_000,
);
