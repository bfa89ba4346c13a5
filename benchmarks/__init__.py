"""The measurements behind the figures the README and the service's docstrings quote.

Each module is a script (``python -m benchmarks.<name>`` from the repository root) that measures
one claim on the committed ``models/``: the serving benchmark (``bench``, ``make bench``) and its
parts (``bench_c1``, ``bench_load``, ``bench_batcher``, ``bench_stream``, ``bench_report``), and
single questions (``bench_overhead``, ``bench_padding``, ``bench_arena``, ``bench_vs_wrk``).
They load models and start servers exactly as the service does (``load_model``, ``open_session``,
``loadtest.servers.run_server``), so a figure describes the code that serves.

Not shipped: the wheel packages ``service``, ``export`` and ``loadtest`` only, so this folder may
import the test helpers, and nothing in ``service/`` may import from here.
``tests/benchmarks/`` runs every module in its quickest mode.
"""
