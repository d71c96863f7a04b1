/**
 * startKafkaBroker works from an installed @rxkafka/testing, outside this workspace: the launcher ships
 * in the package (`kafka/`), and it keeps its jars in the user's cache instead of a repository's.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

test('an installed @rxkafka/testing starts and stops a broker, with its jars in the user cache', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', 'testing', 'package.json'), 'utf8')) as {
    files: string[];
  };
  expect(manifest.files).toContain('kafka');

  const app = mkdtempSync(join(tmpdir(), 'rxkafka-installed-'));
  try {
    // The package as npm would lay it out: what `files` publishes, under the app's node_modules.
    const installed = join(app, 'node_modules', '@rxkafka', 'testing');
    for (const part of ['package.json', 'src', 'kafka']) {
      cpSync(join(root, 'packages', 'testing', part), join(installed, part), { recursive: true });
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    writeFileSync(
      join(app, 'main.ts'),
      [
        "import { startKafkaBroker } from './node_modules/@rxkafka/testing/src/broker.ts';",
        'const broker = await startKafkaBroker();',
        'console.log(`address ${broker.brokers}`);',
        'await broker.stop();',
        "console.log('stopped');",
      ].join('\n'),
    );
    const cache = join(app, 'xdg-cache');
    const run = spawnSync(tsx, ['main.ts'], {
      cwd: app,
      // No RXKAFKA_KAFKA_CACHE: the default for an installed package is the user's cache.
      env: { ...process.env, XDG_CACHE_HOME: cache, RXKAFKA_KAFKA_CACHE: '' },
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(run.status, run.stderr.slice(-3000)).toBe(0);
    expect(run.stdout).toMatch(/address 127\.0\.0\.1:\d+/);
    expect(run.stdout).toContain('stopped');
    const libs = join(cache, 'rxkafka', 'kafka', 'libs');
    expect(existsSync(libs)).toBe(true);
    expect(readdirSync(libs).some((jar) => jar.startsWith('kafka_2.13-'))).toBe(true);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
}, 300_000);
