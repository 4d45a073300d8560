import type { ReferenceRun, ServiceRun } from './common.js';
import { type CpuReport, msPerThousand } from './cpu-usage.js';
import type { PublishRun } from './publishing.bench.js';

/** The service against one hand-written side: the median round by their ratio, and every round's ratio in the order they ran. */
export interface Pairing {
  service: ServiceRun;
  /** The hand-written side's run in that round. */
  reference: ReferenceRun;
  ratio: number;
  /** The round (from 1) whose ratio is the median. */
  medianRound: number;
  rounds: number[];
}

/**
 * The service against the reference and, in `lean`, against the lean reference. Each pairing's
 * median round is picked by its own ratio: the two may be different rounds, with different
 * service runs, so each ratio is the one measured in a single round, not a quotient of two medians.
 */
export interface Comparison extends Pairing {
  lean: Pairing;
}

export interface BenchResults {
  settings: {
    members: number;
    concurrency: number;
    workers: number;
    rounds: number;
    /** Items of the unreported first round of each scenario. */
    warmUp: number;
    referenceConnections: number;
    cores: number;
    node: string;
    postgres: string;
    redis: string;
    loadAverageBefore: number[];
    loadAverageAfter?: number[];
    /** The settle scenario's size, when it ran. */
    usage?: { records: number; members: number; enterprises: number; batch: number; warmUp: number };
  };
  sharing?: Comparison;
  coupons?: Comparison;
  /** Against its hand-written reference only: there is no lean side for settlement. */
  settle?: Pairing;
  publishing?: PublishRun[];
  workerHighWaterMark?: number;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const rate = (n: number) => Math.round(n).toLocaleString('en-US');

/** CPU milliseconds per 1,000 items, by who spent them. */
function cpuLine(cpu: CpuReport, items: number, clientLabel: string, client: number): string {
  const per = (seconds: number) => msPerThousand(seconds, items).toFixed(0);
  const busy = cpu.machine / cpu.seconds;
  return (
    `CPU ms per 1,000: machine ${per(cpu.machine)} (${busy.toFixed(2)} cores busy), ${clientLabel} ${per(client)}, ` +
    `Postgres backends ${per(cpu.postgres)}, Redis ${per(cpu.redis)}`
  );
}

const everyRound = (p: Pairing) => p.rounds.map((x) => x.toFixed(2)).join(', ');

function comparison(label: string, unit: string, r: Pairing & { lean?: Pairing }, warmUp: number): string[] {
  const { service, reference, lean } = r;
  const warmedBy = warmUp > 0 ? `, after a warm-up round of ${warmUp}` : '';
  const leanLines = (line: (lean: Pairing) => string) => (lean ? [line(lean)] : []);
  return [
    `${label} (the median of ${r.rounds.length} rounds by ratio, picked for each ratio on its own${warmedBy}; every round: ${everyRound(r)})`,
    `  service    ${service.items} ${unit} in ${service.seconds.toFixed(2)} s = ${rate(service.rate)} ${unit}/s ` +
      `(publish → operation final; publishing itself took ${service.publishSeconds.toFixed(2)} s)`,
    `  reference  ${reference.items} ${unit} in ${reference.seconds.toFixed(2)} s = ${rate(reference.rate)} ${unit}/s (hand-written pg, ${reference.connections} connections)`,
    `  ratio      service/reference = ${r.ratio.toFixed(2)} (round ${r.medianRound})`,
    ...leanLines(
      (lean) =>
        `  lean       ${lean.reference.items} ${unit} in ${lean.reference.seconds.toFixed(2)} s = ${rate(lean.reference.rate)} ${unit}/s ` +
        `(hand-written pg, one statement per chunk, ${lean.reference.connections} connections)`,
    ),
    ...leanLines(
      (lean) =>
        `  ratio      service/lean = ${lean.ratio.toFixed(2)} (round ${lean.medianRound}, service ${rate(lean.service.rate)} ${unit}/s there; ` +
        `every round: ${everyRound(lean)})`,
    ),
    `  service    ${cpuLine(service.cpu, service.items, 'worker', service.cpu.workers)}, bench process ${msPerThousand(service.cpu.bench, service.items).toFixed(0)}`,
    `  reference  ${cpuLine(reference.cpu, reference.items, 'client', reference.cpu.bench)}`,
    ...leanLines(
      (lean) => `  lean       ${cpuLine(lean.reference.cpu, lean.reference.items, 'client', lean.reference.cpu.bench)}`,
    ),
    `  worker RSS peak ${mib(service.rss.maxPerProcess)} per process (sampled every 100 ms; sum over processes ${mib(service.rss.sum)})`,
    `  Redis      used_memory ${mib(service.redis.baseline)} before → ${mib(service.redis.peakUsed)} at the peak sample; ` +
      `used_memory_peak then ${mib(service.redis.serverPeakAtSample)} (server-wide)`,
  ];
}

export function formatReport(results: BenchResults): string {
  const s = results.settings;
  const lines = [
    `benefits bench: ${s.members} members, worker concurrency ${s.concurrency} × ${s.workers} process(es)`,
    `machine: ${s.cores} cores, Node ${s.node}, PostgreSQL ${s.postgres}, Redis ${s.redis}; load average ` +
      `${s.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')} before` +
      (s.loadAverageAfter ? `, ${s.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')} after` : '') +
      ' (shared servers: timings are noisy)',
    '',
  ];
  if (results.sharing) lines.push(...comparison('sharing.set', 'members', results.sharing, s.warmUp), '');
  if (results.coupons)
    lines.push(...comparison(`coupons.allocate (over 100 coupons)`, 'allocations', results.coupons, s.warmUp), '');
  if (results.settle && s.usage) {
    const u = s.usage;
    const label =
      `usage.settle (${u.members} members of ${u.enterprises} enterprises, each with 20 master packages and 50 coupons ` +
      `drawn on by every chunk; operations of ${u.batch} records, each enterprise's settled in order)`;
    lines.push(...comparison(label, 'records', results.settle, u.warmUp), '');
  }
  if (results.workerHighWaterMark)
    lines.push(`worker VmHWM (kernel's RSS high-water mark, whole run): ${mib(results.workerHighWaterMark)}`, '');
  if (results.publishing) {
    lines.push('publishing (producer library, no worker consuming)');
    for (const p of results.publishing) {
      lines.push(
        `  ${p.operations} sharing.set operations of 1-5 members, ${p.inFlight} in flight: ${p.seconds.toFixed(2)} s = ${rate(p.rate)} operations/s`,
      );
    }
  }
  return lines.join('\n');
}
