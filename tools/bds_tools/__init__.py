"""What developers and the suite use beside the runtime package ``bds``, never a worker: the
benchmark (``bench``, ``bench_console``, ``overhead``), the scale generator (``scale``), local
Airflow installations (``airflow_local``: ``make demo``, ``make airflow`` and the tests) and the
demo's S3 server (``demo_s3``). Installed in the development environment only (``make venv``)."""
