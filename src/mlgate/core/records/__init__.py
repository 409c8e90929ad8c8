"""Typed records: every file and wire format mlgate writes, one model each, read back through
the same type. Pure: records are built from values and (de)serialised from text; the store
reads and writes the files.

    base.py      `Record`: frozen, closed, versioned; `parse` upgrades an older format version
                 it still reads and refuses any other with a message naming it
    gate.py      reports/gate.json and a bundle's gate.json: the quality gate's verdict
    lineage.py   a bundle's mlgate.json: what was trained, from what, how it scored
    monitor.py   monitor.json: one `mlgate monitor` run
    rollout.py   the release controller's state and history (release.json)
    predlog.py   one line of the prediction log
    feedback.py  one line of the feedback log (labels sent to /feedback)

reports/validation.json is `mlgate.core.validate.ValidationReport`, a record too.
"""
