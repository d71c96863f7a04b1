/**
 * Starts and stops a real Apache Kafka broker (KRaft, single combined broker+controller) for
 * integration tests and benchmarks. The heavy lifting lives in `scripts/kafka.sh` so the same
 * launcher serves the CLI (`pnpm kafka start`), CI and this helper; here we only spawn it.
 *
 * Deliberately uses nothing but `node:` builtins: the testing package must not depend on a
 * Kafka client library.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StartKafkaBrokerOptions {
  /** Working directory for the broker's data, config and `broker.log`; default `.cache/kafka/run-<port>`. */
  readonly dir?: string;
  /** PLAINTEXT port; `0` or absent picks a free one so parallel runs do not collide. */
  readonly port?: number;
  /** How long to wait for the broker to report it started (default 90 s; a cold JVM on CI is slow). */
  readonly startTimeoutMs?: number;
}

export interface KafkaBroker extends AsyncDisposable {
  /** Bootstrap address, `127.0.0.1:<port>`. */
  readonly brokers: string;
  /** Stops the broker; safe to call more than once. */
  stop(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 90_000;

/** Launches a fresh, empty broker and resolves once it accepts connections. */
export async function startKafkaBroker(options: StartKafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const root = findRepoRoot();
  const script = join(root, 'scripts', 'kafka.sh');
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`startKafkaBroker: invalid port ${String(port)}`);
  }
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  // Resolve against the caller's cwd now, because the script runs with the repo root as cwd.
  const dir = options.dir === undefined ? undefined : resolve(options.dir);

  const args = ['start', '--port', String(port), '--owner-pid', String(process.pid)];
  if (dir !== undefined) args.push('--dir', dir);
  const { stdout } = await runScript(root, script, args, {
    KAFKA_START_TIMEOUT: String(Math.max(1, Math.ceil(timeoutMs / 1000))),
  });

  const brokers = stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[\w.-]+:\d+$/.test(line))
    .at(-1);
  if (brokers === undefined) {
    throw new Error(`startKafkaBroker: scripts/kafka.sh printed no broker address (stdout: ${JSON.stringify(stdout)})`);
  }
  const brokerPort = brokers.slice(brokers.lastIndexOf(':') + 1);
  // Without --dir the script used its default folder, which `stop --port` maps back to.
  const stopArgs = dir === undefined ? ['stop', '--port', brokerPort] : ['stop', '--dir', dir];

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= runScript(root, script, stopArgs).then(() => undefined);
    return stopping;
  };
  return { brokers, stop, [Symbol.asyncDispose]: stop };
}

/**
 * The launcher script is found relative to the repository, not the package, because it shares the
 * repo-level `.cache/kafka` jar cache. RXKAFKA_ROOT overrides the search (e.g. for a copied dist/).
 */
function findRepoRoot(): string {
  const fromEnv = process.env['RXKAFKA_ROOT'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml')) && existsSync(join(dir, 'scripts', 'kafka.sh'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        'startKafkaBroker: cannot find the rxkafka repository root (pnpm-workspace.yaml + scripts/kafka.sh); set RXKAFKA_ROOT',
      );
    }
    dir = parent;
  }
}

interface ScriptResult {
  readonly stdout: string;
  readonly stderr: string;
}

function runScript(
  root: string,
  script: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<ScriptResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) =>
      reject(new Error(`scripts/kafka.sh ${args[0] ?? ''}: ${error.message}`, { cause: error })),
    );
    // 'close' (not 'exit') so that all output has been read; the script detaches the broker from its pipes.
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolvePromise({ stdout, stderr });
      } else {
        const how = signal === null ? `exit code ${String(code)}` : `signal ${signal}`;
        reject(new Error(`scripts/kafka.sh ${args.join(' ')} failed (${how}):\n${stderr.trimEnd()}`));
      }
    });
  });
}
