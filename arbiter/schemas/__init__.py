"""JSON Schema (2020-12) documents of the arbiter's data contracts; loaded by `arbiter.schema`."""
