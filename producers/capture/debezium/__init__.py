"""Capture through the real Debezium embedded engine (pydbzengine + JPype), publishing our Avro envelopes.

`config` derives the engine properties, `convert` turns the engine's JSON events into our key/envelope dicts,
`engine` runs the engine with a no-loss batch handler, `capture.build_debezium_capture` wires it for the CLI.
"""
