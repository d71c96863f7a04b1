/**
 * Alters a topic's configuration with Kafka's own ConfigCommand, from the broker jars that
 * packages/testing/kafka/kafka.sh resolved (the public API of @rxkafka/kafka has no alter-config call).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './harness.js';

export async function alterTopicConfig(
  brokers: string,
  topic: string,
  change: { readonly add?: Record<string, string>; readonly remove?: readonly string[] },
  timeoutMs = 60_000,
): Promise<void> {
  const java = process.env['JAVA_HOME'] === undefined ? 'java' : join(process.env['JAVA_HOME'], 'bin', 'java');
  const args = [
    '-cp',
    join(REPO_ROOT, '.cache', 'kafka', 'libs', '*'),
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    'kafka.admin.ConfigCommand',
    '--bootstrap-server',
    brokers,
    '--entity-type',
    'topics',
    '--entity-name',
    topic,
    '--alter',
  ];
  const add = Object.entries(change.add ?? {});
  if (add.length > 0) args.push('--add-config', add.map(([k, v]) => `${k}=${v}`).join(','));
  if ((change.remove ?? []).length > 0) args.push('--delete-config', (change.remove ?? []).join(','));
  await new Promise<void>((resolve, reject) => {
    const child = spawn(java, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ConfigCommand on ${topic} did not finish in ${String(timeoutMs)} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`ConfigCommand on ${topic} exited with ${String(code)}:\n${output.slice(-2000)}`));
    });
  });
}
