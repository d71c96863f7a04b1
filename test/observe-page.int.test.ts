/**
 * The status page in headless Chromium (Debian's `chromium`, driven by playwright-core) while a
 * pipeline runs on the real broker: it loads, shows the chain's handlers, and its numbers change
 * without a reload.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { BREAK, handler, runChain } from '@rxkafka/core';
import { fromKafka, runService, toKafka } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { observe, serveStatus } from '@rxkafka/observe';
import { brokers, capturingLogger, CONSUMER_TUNING, newTopics, sleep, unique, waitFor } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const Order = z.object({ id: z.number().int() });
type Order = z.infer<typeof Order>;

// Skipped on a machine without Chromium, except in CI, where .ci/run installs it.
describe.skipIf(!existsSync(CHROMIUM) && process.env['CI'] !== 'true')('observe: the status page in Chromium', () => {
  test('loads, shows the handlers, and its numbers change while the pipeline runs', async () => {
    const inTopic = unique('page-in');
    const outTopic = unique('page-out');
    const dlqTopic = unique('page-dlq');
    await newTopics([
      { topic: inTopic, partitions: 2 },
      { topic: outTopic, partitions: 1 },
      { topic: dlqTopic, partitions: 1 },
    ]);
    const b = brokers();
    const logger = capturingLogger();
    const source = fromKafka<Order>({
      brokers: b,
      groupId: unique('page-group'),
      topics: [inTopic],
      schema: Order,
      logger,
      rdkafka: { ...CONSUMER_TUNING, 'statistics.interval.ms': 1000 },
    });
    const monitor = observe({ logger }).watch(source, { name: 'page-service' });
    const server = await serveStatus({ port: 0, monitor, title: 'page test' });
    const service = runService(
      source,
      (records) =>
        records.pipe(
          runChain([
            handler<Order, Record<string, unknown>>('validate', (ctx) =>
              ctx.record.id % 11 === 0 ? BREAK : undefined,
            ),
            handler<Order, Record<string, unknown>>('enrich', async (ctx) => {
              await sleep(2);
              if (ctx.record.id % 13 === 0) throw new Error(`order ${String(ctx.record.id)} has no customer`);
            }),
            handler<Order, Record<string, unknown>>('emit', (ctx) => {
              ctx.emit({ topic: outTopic, key: ctx.key, value: ctx.record });
            }),
          ]),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger }),
        ),
      { handleSignals: false, logger },
    );
    // Records keep arriving while the page is watched: 20 every 200 ms, until the test is done.
    let producing = true;
    let next = 0;
    const producer = (async () => {
      while (producing) {
        const batch = Array.from({ length: 20 }, () => {
          const id = next++;
          return { topic: inTopic, key: `k${String(id % 7)}`, value: JSON.stringify({ id }) };
        });
        await produceRecords(b, batch);
        await sleep(200);
      }
    })();
    const profile = mkdtempSync(join(tmpdir(), 'rxkafka-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    try {
      const page = await browser.newPage();
      await page.goto(server.url);
      await expect(page.title()).resolves.toBe('page test status');
      // The first poll lands within a second; records need the consumer to join the group first.
      const enrichRuns = page.locator('[data-handler="enrich"] .total b');
      await enrichRuns.waitFor({ timeout: 60_000 });
      for (const name of ['validate', 'enrich', 'emit'])
        expect(await page.locator(`[data-handler="${name}"] .name`).textContent()).toBe(name);
      // The sink names its dead-letter topic with its first output, which may follow the first poll.
      await page.locator('.node.dlq .name', { hasText: dlqTopic }).waitFor({ timeout: 30_000 });
      const first = Number(await enrichRuns.textContent());
      // Numbers change without a reload: the page polls once a second and records keep coming.
      let later = first;
      const poll = setInterval(() => {
        void enrichRuns.textContent().then((text) => {
          later = Number(text);
        });
      }, 250);
      try {
        await waitFor(
          () => later > first,
          30_000,
          () => `enrich runs past ${String(first)} (page shows ${String(later)})`,
        );
      } finally {
        clearInterval(poll);
      }
      expect(await page.locator('#partitions tbody tr').count()).toBe(2);
      await expect(page.locator('#live').textContent()).resolves.toBe('live ok');
      await page
        .locator('#deadletters tbody tr td', { hasText: 'has no customer' })
        .first()
        .waitFor({ timeout: 30_000 });
    } finally {
      producing = false;
      await producer;
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
      await source.stop();
      await service;
      await server.close();
      monitor.close();
    }
  });
});
