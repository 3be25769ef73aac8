"""Load tests and benchmarks: a local cluster behind nginx, Locust scenarios, data checks, reports."""
