// The peer of the scheduler bench's PostgreSQL drain: graphile-worker draining the same number
// of trivial jobs on the same server, with the same concurrency and batch size, so the two are
// measured in one run (tests/benches/scheduler.rs, phase `peer`).
//
//   node tests/peers/graphile-drain.mjs MODULES_DIR DATABASE_URL JOBS CONCURRENCY BATCH
//
// MODULES_DIR is where `npm install graphile-worker` put it. The jobs are all added before the
// worker starts; the time is from its start until the last job completed. Prints one JSON line.
import { createRequire } from "node:module";
import path from "node:path";

const [modules, connectionString, jobsText, concurrencyText, batchText] = process.argv.slice(2);
const require = createRequire(path.join(modules, "package.json"));
const { Logger, run, runMigrations } = require("graphile-worker");
const pg = require("pg");

const jobs = Number(jobsText);
const concurrency = Number(concurrencyText);
const batch = Number(batchText);
const preset = {
  worker: {
    connectionString,
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 2,
    pollInterval: 500,
    // Fetch `batch` jobs at a time and complete them in batches: graphile-worker's fastest mode.
    localQueue: { size: batch },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
};

// A line per job would cost more than the job; Stagewright's workers log nothing per run either.
const logger = new Logger(() => () => {});

await runMigrations({ connectionString, logger });
const client = new pg.Client({ connectionString });
await client.connect();
const chunk = 10000;
for (let first = 0; first < jobs; first += chunk) {
  await client.query(
    `SELECT graphile_worker.add_jobs(ARRAY(
       SELECT ('trivial', json_build_object('n', n), NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
       FROM generate_series($1::int, $2::int) AS n))`,
    [first, Math.min(first + chunk, jobs) - 1],
  );
}
await client.query("ANALYZE graphile_worker._private_jobs");

let done = 0;
let finished;
const allDone = new Promise((resolve) => (finished = resolve));
const started = process.hrtime.bigint();
const runner = await run({
  preset,
  logger,
  noHandleSignals: true,
  taskList: {
    trivial: async () => {
      done += 1;
      if (done === jobs) finished(process.hrtime.bigint());
    },
  },
});
const ended = await allDone;
await runner.stop();
const left = (await client.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs")).rows[0].n;
await client.end();
const seconds = Number(ended - started) / 1e9;
console.log(JSON.stringify({ jobs, seconds, jobs_per_second: jobs / seconds, left }));
