/**
 * Starts and stops a real Apache Kafka broker (KRaft, combined broker+controller; optionally a
 * cluster of several) for integration tests, reliability tests and benchmarks. A broker can be
 * killed and started again on the same port with the same data, to test broker restarts. The heavy lifting lives in `kafka/kafka.sh` so the same
 * launcher serves the CLI (`pnpm kafka start`), CI and this helper; here we only spawn it.
 *
 * Deliberately uses nothing but `node:` builtins: the testing package must not depend on a
 * Kafka client library.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StartKafkaBrokerOptions {
  /** Working directory for the broker's data, config and `broker.log`; default: a temporary folder, removed on stop. */
  readonly dir?: string;
  /** PLAINTEXT port; `0` or absent picks a free one so parallel runs do not collide. */
  readonly port?: number;
  /** How long to wait for the broker to report it started (default 90 s; a cold JVM on CI is slow). */
  readonly startTimeoutMs?: number;
  /**
   * Number of nodes (default 1). With more than one, every node is a combined broker+controller
   * in one KRaft quorum; internal topics get replication factor `nodes`, and with 3 or more nodes
   * `min.insync.replicas` defaults to 2. `port` then applies to the first node.
   */
  readonly nodes?: number;
}

export interface KillBrokerOptions {
  /** `SIGTERM` (default): controlled shutdown. `SIGKILL`: `kill -9`, no shutdown at all. */
  readonly signal?: 'SIGTERM' | 'SIGKILL';
  /** Which node of a cluster (1-based); default every node. */
  readonly node?: number;
}

export interface StartAgainOptions {
  /** Which node of a cluster (1-based); default every node that is down. */
  readonly node?: number;
}

export interface RestartBrokerOptions extends KillBrokerOptions {
  /** How long the broker stays down between stop and start (default 0). */
  readonly downMs?: number;
}

export interface KafkaBroker extends AsyncDisposable {
  /** Bootstrap address, `127.0.0.1:<port>` (comma-separated, one per node, for a cluster). */
  readonly brokers: string;
  /** The broker's working folder (a cluster's nodes are in `node-1` .. `node-N` under it). */
  readonly dir: string;
  /** Stops the broker (every node) and deletes its data; safe to call more than once. */
  stop(): Promise<void>;
  /**
   * Stops the broker (or one node) but keeps its data, for `start()` later: a broker that is down.
   * Resolves once the process is gone.
   */
  kill(options?: KillBrokerOptions): Promise<void>;
  /**
   * Starts a killed broker (or node) again on the same port with the same data (no reformat),
   * and resolves once it accepts connections.
   */
  start(options?: StartAgainOptions): Promise<void>;
  /** `kill()`, wait `downMs`, `start()`: resolves once the broker accepts connections again. */
  restart(options?: RestartBrokerOptions): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 90_000;

/** Launches a fresh, empty broker and resolves once it accepts connections. */
export async function startKafkaBroker(options: StartKafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const { root, script } = launcher();
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`startKafkaBroker: invalid port ${String(port)}`);
  }
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const nodes = options.nodes ?? 1;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) {
    throw new RangeError(`startKafkaBroker: invalid nodes ${String(nodes)} (1 to 9)`);
  }
  // Resolve against the caller's cwd now, because the script runs with the package folder as cwd.
  const given = options.dir === undefined ? undefined : resolve(options.dir);
  // A folder of our own when none is given: removed again on stop.
  const dir = given ?? mkdtempSync(join(tmpdir(), 'rxkafka-broker-'));
  const timeoutEnv = { KAFKA_START_TIMEOUT: String(Math.max(1, Math.ceil(timeoutMs / 1000))) };
  const owner = ['--owner-pid', String(process.pid)];

  const args = ['start', '--port', String(port), ...owner];
  if (nodes > 1) args.push('--nodes', String(nodes));
  args.push('--dir', dir);
  const { stdout } = await runScript(root, script, args, timeoutEnv);

  const brokers = stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[\w.-]+:\d+(,[\w.-]+:\d+)*$/.test(line))
    .at(-1);
  if (brokers === undefined) {
    throw new Error(`startKafkaBroker: kafka/kafka.sh printed no broker address (stdout: ${JSON.stringify(stdout)})`);
  }
  const target = ['--dir', dir];

  let stopping: Promise<void> | undefined;
  // kill/start/restart are serialised, so a test cannot interleave a start with a kill.
  let lifecycle: Promise<unknown> = Promise.resolve();
  const serial = <T>(action: () => Promise<T>): Promise<T> => {
    const next = lifecycle.then(() => {
      if (stopping !== undefined) throw new Error(`startKafkaBroker: the broker at ${brokers} was stopped`);
      return action();
    });
    lifecycle = next.catch(() => undefined);
    return next;
  };
  const nodeArgs = (node: number | undefined): string[] => {
    if (node === undefined) return [];
    if (!Number.isInteger(node) || node < 1 || node > nodes) {
      throw new RangeError(`startKafkaBroker: invalid node ${String(node)} (1 to ${String(nodes)})`);
    }
    return ['--node', String(node)];
  };
  const killNow = async (o: KillBrokerOptions = {}): Promise<void> => {
    const signal: string = o.signal ?? 'SIGTERM';
    // Callers without types (plain JS, JSON config) can pass anything.
    if (signal !== 'SIGTERM' && signal !== 'SIGKILL') {
      throw new RangeError(`startKafkaBroker: kill signal must be SIGTERM or SIGKILL, got ${signal}`);
    }
    await runScript(root, script, ['kill', ...target, ...nodeArgs(o.node), '--signal', signal.slice(3)]);
  };
  const startNow = async (o: StartAgainOptions = {}): Promise<void> => {
    await runScript(root, script, ['start', '--resume', ...target, ...nodeArgs(o.node), ...owner], timeoutEnv);
  };

  const stop = (): Promise<void> => {
    // Waits for a kill/start in progress, so that no broker is left running behind the stop.
    stopping ??= lifecycle
      .then(() => runScript(root, script, ['stop', ...target]))
      .then(() => {
        if (given === undefined) rmSync(dir, { recursive: true, force: true });
      });
    return stopping;
  };
  return {
    brokers,
    dir,
    stop,
    kill: (o) => serial(() => killNow(o)),
    start: (o) => serial(() => startNow(o)),
    restart: (o = {}) =>
      serial(async () => {
        const downMs = o.downMs ?? 0;
        if (!Number.isFinite(downMs) || downMs < 0) {
          throw new RangeError(`startKafkaBroker: invalid downMs ${String(downMs)}`);
        }
        await killNow(o);
        if (downMs > 0) await new Promise((wake) => setTimeout(wake, downMs));
        await startNow(o.node === undefined ? {} : { node: o.node });
      }),
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * The launcher ships in this package (`kafka/kafka.sh` and its `pom.xml`), so it works installed from
 * the registry too. Inside the rxkafka workspace it keeps its jars in the workspace's `.cache/kafka`,
 * elsewhere in the user's cache (`RXKAFKA_KAFKA_CACHE` overrides both).
 */
function launcher(): { readonly root: string; readonly script: string } {
  // From src/broker.ts or dist/broker.js alike, the package folder is one level up.
  const root = fileURLToPath(new URL('..', import.meta.url));
  const script = join(root, 'kafka', 'kafka.sh');
  if (!existsSync(script)) throw new Error(`startKafkaBroker: the launcher script is missing: ${script}`);
  return { root, script };
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
      reject(new Error(`kafka/kafka.sh ${args[0] ?? ''}: ${error.message}`, { cause: error })),
    );
    // 'close' (not 'exit') so that all output has been read; the script detaches the broker from its pipes.
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolvePromise({ stdout, stderr });
      } else {
        const how = signal === null ? `exit code ${String(code)}` : `signal ${signal}`;
        reject(new Error(`kafka/kafka.sh ${args.join(' ')} failed (${how}):\n${stderr.trimEnd()}`));
      }
    });
  });
}
