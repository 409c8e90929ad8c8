"""Deploying a model: on one machine, gradually and judged on what the model does, or as
reviewable Kubernetes manifests for Argo Rollouts or Flagger to do the same in a cluster.

    controller.py   the executor: starts, steps, resumes what `mlgate.core.rollout` plans and
                    `mlgate.core.canary.decide` decides;  transitions.py: promote, rollback;
                    stop.py: `mlgate canary stop` and the guard's rollback
    ports.py        what the controller drives, behind protocols: the splitter, the observer
                    (Prometheus, `adapters.prometheus.query`), the processes
    state.py        its state file (`core.records.rollout`) and lock;  guard.py: the guard
                    that rolls back when no controller decides
    local.py        the splitter (`adapters.nginx`), exporter and Prometheus processes;
                    exporter.py: the splitter's metrics
    variants.py     the model servers (processes, containers, external);  sources.py: what a
                    name refers to
    webhook.py      the analysis as a Flagger webhook;  report.py: the release report

    service.py      what the command line calls: deploy, status, stop;  analysis.py:
                    `mlgate canary analyze`

`mlgate.app.kubernetes` writes the cluster's manifests. This package's `__init__` imports
nothing: the guard and the exporter run as processes of their own and import only their
modules.
"""
