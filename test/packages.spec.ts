/**
 * One copy of RxJS (and zod) per application. The published packages declare them as peer
 * dependencies; with their own copies, runChain's default scheduler would not be the one a user's
 * TestScheduler patches, and schemas from the user's zod would not be the package's.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Manifest {
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
}

const PEERS: Record<string, readonly string[]> = {
  core: ['rxjs', 'zod'],
  kafka: ['rxjs', 'zod'],
  testing: ['rxjs'],
};

describe.each(Object.entries(PEERS))('@rxkafka/%s', (name, peers) => {
  const dir = join(root, 'packages', name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

  test.each(peers)('takes %s as a peer dependency, never as its own', (peer) => {
    expect(manifest.peerDependencies?.[peer]).toBeDefined();
    expect(manifest.dependencies?.[peer]).toBeUndefined();
  });

  test.each(peers)("resolves %s to the application's copy", (peer) => {
    const fromPackage = createRequire(join(dir, 'package.json')).resolve(peer);
    const fromApplication = createRequire(join(root, 'test', 'package.json')).resolve(peer);
    expect(realpathSync(fromPackage)).toBe(realpathSync(fromApplication));
  });
});
