"""`make bench`, as a package: `python -m scripts.bench` runs it (see __main__.py for what
it measures and its options). One idea a module, from the bottom up:

- workload: the messages, the model backends, the plan (how long, how hard, which loads);
- records: what a run collects (a load point, one job's sample, one row of the table);
- stats: percentiles, one row from its samples, the headline ratios and the targets;
- table, chart, report: the printed table, report.png, report.json;
- processes, services: child process groups; the database and Redis of a run;
- cpu, load: where the CPU goes; open- and closed-loop load and its latency;
- http_pool, serving: the clients' HTTP connections; what both serving systems share;
- raw, naive, platform: each system under test, started and measured.
"""
