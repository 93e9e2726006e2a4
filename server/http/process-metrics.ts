/**
 * Process metrics under the names Prometheus' client libraries use (so stock dashboards and alerts
 * work): resident memory, CPU seconds, start time, open files, heap, and the event loop's lag from
 * `monitorEventLoopDelay` (reset at each scrape, as prom-client does).
 *
 * GC: Bun (JavaScriptCore) emits no GC performance entries and exposes no collection counts, so
 * there is no `nodejs_gc_duration_seconds` here; the heap gauges show what collections achieve.
 */
import { readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { MetricFamily, MetricsSource } from "../observe/metrics.ts";

export interface ProcessMetrics {
  source: MetricsSource;
  /** Stops the event-loop sampler. */
  stop(): void;
}

const NS = 1e9;

export function processMetrics(): ProcessMetrics {
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  // 10 ms resolution: the timer itself costs ~100 wake-ups a second, nothing measurable.
  let loop: ReturnType<typeof monitorEventLoopDelay> | undefined;
  try {
    loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
  } catch {
    loop = undefined; // a runtime without it: no lag families
  }
  const source: MetricsSource = () => {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    const families: MetricFamily[] = [
      gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss),
      counter("process_cpu_user_seconds_total", "User CPU time spent in seconds.", cpu.user / 1e6),
      counter("process_cpu_system_seconds_total", "System CPU time spent in seconds.", cpu.system / 1e6),
      counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (cpu.user + cpu.system) / 1e6),
      gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", startSeconds),
      gauge("nodejs_heap_size_total_bytes", "Process heap size in bytes.", memory.heapTotal),
      gauge("nodejs_heap_size_used_bytes", "Process heap size used in bytes.", memory.heapUsed),
      gauge("nodejs_external_memory_bytes", "Memory of C++ objects bound to JavaScript objects in bytes.", memory.external),
    ];
    const fds = openFileCount();
    if (fds !== undefined) families.push(gauge("process_open_fds", "Number of open file descriptors.", fds));
    if (loop) {
      // No sample since the last scrape (two scrapes within 10 ms): the loop was not held up.
      const seen = loop.count > 0;
      families.push(
        gauge("nodejs_eventloop_lag_seconds", "Mean event loop lag in seconds since the last scrape.", seen ? loop.mean / NS : 0),
        gauge("nodejs_eventloop_lag_max_seconds", "Maximum event loop lag in seconds since the last scrape.", seen ? loop.max / NS : 0),
        gauge("nodejs_eventloop_lag_p99_seconds", "99th percentile of the event loop lag in seconds since the last scrape.", seen ? loop.percentile(99) / NS : 0),
      );
      loop.reset();
    }
    return families;
  };
  return {
    source,
    stop: () => loop?.disable(),
  };
}

function openFileCount(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined; // not Linux
  }
}

const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, values: [{ value }] });
const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "counter", values: [{ value }] });
