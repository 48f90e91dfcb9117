"""Tests of nerve.models: Sequential, Functional, subclassed Model, summary."""
