import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { prometheusMetrics } from './metrics.js';
import { observe } from './monitor.js';

describe('examples/grafana/rxkafka.json', () => {
  it('queries only metrics that prometheusMetrics registers', async () => {
    const dashboard = readFileSync(new URL('../../../examples/grafana/rxkafka.json', import.meta.url), 'utf8');
    const used = new Set([...dashboard.matchAll(/rxkafka_[a-z_]+/g)].map(([name]) => name.replace(/_bucket$/, '')));
    const registry = new Registry();
    const monitor = observe();
    try {
      prometheusMetrics(monitor, { registry });
      const registered = new Set((await registry.getMetricsAsJSON()).map((metric) => metric.name));
      expect(used.size).toBeGreaterThan(15);
      expect([...used].filter((name) => !registered.has(name))).toEqual([]);
    } finally {
      monitor.close();
    }
  });
});
