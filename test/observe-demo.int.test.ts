/**
 * The demo shows operations: it prints the status page's address, keeps the page up after the run,
 * serves metrics there, and (DEMO_TRACE=1) each order is one trace across its two services, carried
 * through Kafka headers. Runs the demo as `pnpm demo` does (its command), on the embedded mock cluster.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitFor } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the demo with the status page and tracing', () => {
  it('prints the page address, keeps it up after the run with metrics and health, and traces each order once', async () => {
    // The demo script's own command (examples/package.json), so the signal below reaches the demo itself.
    const child = spawn('node', ['--conditions=@rxkafka/source', '--import', 'tsx', 'src/microservice-chain.ts'], {
      cwd: `${root}examples`,
      env: {
        ...process.env,
        KAFKA_BROKERS: '',
        DEMO_RECORDS: '2000',
        DEMO_TRACE: '1',
        DEMO_STATUS_PORT: '0',
        DEMO_KEEP_SECONDS: '60',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // The run itself takes a few seconds on the mock; 90 s bounds a slow, shared machine.
      await waitFor(
        () => stdout.includes('status page stays up'),
        90_000,
        () => `the demo to finish:\n${stdout}`,
      );
      const url = /status page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1];
      expect(url).toBeDefined();
      expect(stdout).toMatch(/traces\s+2000 orders, 1920 continued into module B \(expected 1920\), 0 broken/);
      expect(stdout).toContain('counts reconcile');
      const metrics = await (await fetch(new URL('metrics', url))).text();
      expect(metrics).toMatch(/rxkafka_outcomes_total\{topic="orders",outcome="ok",handler=""\} \d+/);
      expect(metrics).toContain(
        'rxkafka_handler_duration_seconds_bucket{le="0.0005",handler="validate",result="continue"}',
      );
      const page = await fetch(url ?? '');
      expect(page.status).toBe(200);
      expect((await fetch(new URL('health/live', url))).status).toBe(200);
    } finally {
      // Ends the keep-alive early; the demo then closes the page and exits.
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
