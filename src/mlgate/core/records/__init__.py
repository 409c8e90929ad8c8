"""Typed records: every file and wire format mlgate writes, one model each, read back through
the same type. Pure: records are built from values and (de)serialised from text; the store
reads and writes the files.

    base.py      `Record`: frozen, closed, versioned; `parse` refuses another format version
                 with a message naming it
"""
