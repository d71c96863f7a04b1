/**
 * Every TypeScript block in the README compiles against the workspace's packages, so the examples a
 * user copies cannot drift from the API. Blocks may use a few illustrative names declared in PRELUDE.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Names the README uses without defining them: a service's own resources and the test runner. */
const PRELUDE = `
import type { Observable } from 'rxjs';
import type { ChainInput, Handler } from '@rxkafka/core';
declare global {
  interface Connection { release(): void; tierOf(customerId: string): Promise<string> }
  const pool: { acquire(options: { signal: AbortSignal }): Promise<Connection> };
  const it: typeof import('vitest').it;
  const expect: typeof import('vitest').expect;
  const contexts: Observable<ChainInput<{ id: string; amount: number }, Record<string, unknown>>>;
  const brokers: string;
  const chain: Handler<unknown, Record<string, unknown>>[];
}
export {};
`;

function readmeBlocks(): { line: number; code: string }[] {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
  const blocks: { line: number; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]?.trim() !== '```') end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

// Type-checking the workspace's sources takes seconds, more on a loaded machine.
test('every ts block in the README compiles', { timeout: 120_000 }, () => {
  const blocks = readmeBlocks();
  expect(blocks.length).toBeGreaterThan(3);
  // Inside the workspace, so that the blocks resolve @rxkafka/* and rxjs like a user's code would.
  const dir = join(root, 'test', '.readme-blocks');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = blocks.map(({ line, code }) => {
    const file = join(dir, `line-${String(line)}.ts`);
    // Each block is a module of its own, even one without imports.
    writeFileSync(file, `${code}\nexport {};\n`);
    return file;
  });
  const prelude = join(dir, 'prelude.d.ts');
  writeFileSync(prelude, PRELUDE);
  try {
    const base = ts.readConfigFile(join(root, 'tsconfig.base.json'), (path) => ts.sys.readFile(path));
    const { options } = ts.parseJsonConfigFileContent(base.config, ts.sys, root);
    const program = ts.createProgram([prelude, ...files], {
      ...options,
      composite: false,
      declaration: false,
      declarationMap: false,
      noEmit: true,
      noUnusedLocals: false,
      // The packages' TypeScript sources, as the tests use them, so no build is needed.
      customConditions: ['@rxkafka/source'],
    });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || d.file.fileName.startsWith(dir))
      .map((d) => {
        const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        if (d.file === undefined || d.start === undefined) return message;
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        return `README block ${d.file.fileName.slice(dir.length + 1)}, line ${String(line + 1)}: ${message}`;
      });
    expect(problems).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
