/**
 * A Kafka broker with a SASL/SCRAM listener and ACLs (KRaft StandardAuthorizer), for the security
 * tests. Users are created when the storage is formatted; ACLs are granted through Kafka's AdminClient
 * (Acls.java, run by the JDK's single-file launcher, since the ACL CLI is not among the broker's jars).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LibrdkafkaConfig } from '@rxkafka/kafka';

const here = dirname(fileURLToPath(import.meta.url));
const LIBS = join(here, '..', '..', '.cache', 'kafka', 'libs');
const MECHANISM = 'SCRAM-SHA-256';
const ADMIN = { user: 'admin', password: 'admin-secret-7b1e' };

export interface SecureBroker extends AsyncDisposable {
  readonly brokers: string;
  /** librdkafka settings that log in as `user`. */
  credentials(user: string, password: string): LibrdkafkaConfig;
  /** Grants `operations` on every resource of `type` whose name starts with `prefix`. */
  allow(user: string, type: 'TOPIC' | 'GROUP', prefix: string, operations: readonly string[]): void;
  stop(): Promise<void>;
}

export interface SecureUser {
  readonly user: string;
  readonly password: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

function java(args: readonly string[], what: string): void {
  const result = spawnSync('java', ['-cp', `${LIBS}/*`, '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(`${what} failed (${String(result.status ?? result.signal)}): ${result.stderr.slice(-2000)}`);
  }
}

/** Starts the broker with the given SCRAM users (plus an admin) and waits until it serves. */
export async function startSecureBroker(users: readonly SecureUser[]): Promise<SecureBroker> {
  if (!existsSync(LIBS)) throw new Error(`Kafka jars not found in ${LIBS}: run \`pnpm kafka resolve\``);
  const dir = mkdtempSync(join(tmpdir(), 'rxkafka-secure-'));
  const [port, controllerPort] = [await freePort(), await freePort()];
  const jaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username="${ADMIN.user}" password="${ADMIN.password}";`;
  writeFileSync(
    join(dir, 'server.properties'),
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${String(controllerPort)}`,
      `listeners=SASL_PLAINTEXT://127.0.0.1:${String(port)},CONTROLLER://127.0.0.1:${String(controllerPort)}`,
      `advertised.listeners=SASL_PLAINTEXT://127.0.0.1:${String(port)}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
      'inter.broker.listener.name=SASL_PLAINTEXT',
      `sasl.enabled.mechanisms=${MECHANISM}`,
      `sasl.mechanism.inter.broker.protocol=${MECHANISM}`,
      `listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=${jaas}`,
      'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      // The controller listener is local and unauthenticated (ANONYMOUS).
      `super.users=User:${ADMIN.user};User:ANONYMOUS`,
      'allow.everyone.if.no.acl.found=false',
      `log.dirs=${join(dir, 'data')}`,
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'num.partitions=2',
    ].join('\n'),
  );
  const scram = [ADMIN, ...users].flatMap(({ user, password }) => [
    '--add-scram',
    `${MECHANISM}=[name=${user},password=${password}]`,
  ]);
  java(
    [
      'kafka.tools.StorageTool',
      'format',
      '-t',
      'c2VjdXJlLXJ4a2Fma2EtMQ',
      '-c',
      join(dir, 'server.properties'),
      ...scram,
    ],
    'format',
  );

  const logFile = join(dir, 'broker.log');
  const child: ChildProcess = spawn(
    'sh',
    [
      '-c',
      `exec java -Xms256m -Xmx512m -cp '${LIBS}/*' kafka.Kafka '${join(dir, 'server.properties')}' >'${logFile}' 2>&1`,
    ],
    { stdio: 'ignore' },
  );
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const deadline = Date.now() + 90_000;
  for (;;) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    if (log.includes('Kafka Server started')) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the secure broker did not start (log ${logFile}):\n${log.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const brokers = `127.0.0.1:${String(port)}`;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => {
        clearTimeout(kill);
        process.off('exit', killOnExit);
        rmSync(dir, { recursive: true, force: true });
        resolve();
      });
      if (child.exitCode !== null) child.emit('exit');
      else child.kill('SIGTERM');
    });
    return stopping;
  };
  return {
    brokers,
    credentials: (user, password) => ({
      'security.protocol': 'sasl_plaintext',
      'sasl.mechanisms': MECHANISM,
      'sasl.username': user,
      'sasl.password': password,
    }),
    allow(user, type, prefix, operations) {
      java(
        [join(here, 'Acls.java'), brokers, ADMIN.user, ADMIN.password, `User:${user}`, type, prefix, ...operations],
        `granting ${operations.join(', ')} on ${type} ${prefix}* to ${user}`,
      );
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** The admin's credentials, for setting up topics. */
export const admin = ADMIN;
