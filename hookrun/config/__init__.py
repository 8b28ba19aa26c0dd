"""The config: TOML in, immutable Config out, every problem located. Pure: reads one file.

load.py (documents into Config), schema.py (typed fields that collect problems), values.py
(durations, signals), templates.py (${VAR} expansion). Step kinds parse their own tables
through the `Action` protocol, so this package does not depend on them.
"""
