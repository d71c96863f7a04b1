import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs the README's demo command as a user would, and returns its exit code and output. */
function runDemo(env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('pnpm', ['-s', 'demo'], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout });
    });
  });
}

describe('the demo (pnpm demo)', () => {
  it('reconciles every record on the embedded mock cluster, with no Kafka installed', async () => {
    const { code, stdout } = await runDemo({ KAFKA_BROKERS: '', DEMO_RECORDS: '3000' });
    expect(stdout).toContain('embedded librdkafka mock cluster');
    expect(stdout).toMatch(/records in\s+3000/);
    expect(stdout).toMatch(/scored \(out\)\s+2880\s+expected 2880/);
    expect(stdout).toMatch(/dead-lettered\s+90\s+expected 90/);
    expect(stdout).toContain('counts reconcile');
    expect(code).toBe(0);
  });
});
