"""Tests of the CAWS arbiter core (arbiter/)."""
