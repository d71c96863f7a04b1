/**
 * Prints the markdown table of reports collected with RXKAFKA_RELIABILITY_OUT=<file>.jsonl:
 *   node --conditions=@rxkafka/source --import tsx test/reliability/table.ts <file>.jsonl
 */
import { readFileSync } from 'node:fs';
import { formatTable, type ReliabilityReport } from './verify.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: table.ts <reports.jsonl>');
const reports = readFileSync(file, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as ReliabilityReport);
process.stdout.write(`${formatTable(reports)}\n`);
for (const r of reports) {
  for (const note of r.notes) process.stdout.write(`- ${r.scenario}: ${note}\n`);
  if (Object.keys(r.duplicatedByWorker).length > 0) {
    process.stdout.write(`- ${r.scenario}: duplicates by first writer ${JSON.stringify(r.duplicatedByWorker)}\n`);
  }
}
