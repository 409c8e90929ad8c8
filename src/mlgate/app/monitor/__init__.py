"""Monitoring in production: the prediction log against the bundle's reference.

logs.py (read the log in chunks, columnar cache), labels.py (feedback and labels files),
analyze.py (bounded summaries per time window), verdict.py (the pure decision), run.py (one
call: `run_monitor`), outputs.py (JSON and Markdown), html.py (the self-contained report),
alerts.py (webhook, GitHub repository_dispatch, a local command), rules.py (Prometheus alert
rules on the server's gauges).
"""
