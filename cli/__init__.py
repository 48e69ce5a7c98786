"""The `cdc` command line: a thin composition root that reads settings and wires objects together."""
